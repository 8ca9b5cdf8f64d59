import Sqlite from 'better-sqlite3'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { RunEvent } from '../../src/core/events.js'
import { createStore } from '../../src/store/kysely-store.js'
import { FencedError, type ClaimOptions, type ClaimedRun, type Run, type Store } from '../../src/store/types.js'
import { databaseUrls, dropSchema, freshDatabaseUrl, requirePostgres } from '../helpers/db.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A clock the test moves by hand, so timestamps are exact. */
function clock (start = '2024-09-06T12:00:00.000Z') {
  let ms = Date.parse(start)
  return {
    now: () => new Date(ms),
    iso: () => new Date(ms).toISOString(),
    tick (byMs = 1000) { ms += byMs }
  }
}

async function open (t: { teardown: (fn: () => unknown) => void }, base: string, now?: () => Date): Promise<Store> {
  const url = freshDatabaseUrl(base)
  const store = await createStore(url, { now })
  t.teardown(async () => {
    await store.close()
    await dropSchema(url)
  })
  return store
}

const newRun = (userId: string, content: string, threadId?: string) => ({
  user_id: userId,
  content,
  agent: 'supervisor',
  multitask: 'enqueue' as const,
  limits: { perUser: 100, queuedPerUser: 100 },
  ...(threadId && { thread_id: threadId })
})

/** Claims as one process would: every run whose turn has come, unless `limit` says fewer. */
const claim = (store: Store, o: Partial<ClaimOptions> = {}): Promise<ClaimedRun[]> =>
  store.claimRuns({ owner: 'p1', now: 1_000_000, leaseMs: 60_000, perUser: 100, limit: 100, ...o })

/** Claims exactly this one run (the oldest claimable one) and answers its epoch. */
async function claimOne (t: Test, store: Store, run: Run): Promise<number> {
  const claimed = await claim(store, { limit: 1 })
  t.strictSame(claimed.map((c) => c.run.run_id), [run.run_id], 'claimed the expected run')
  return claimed[0]?.epoch ?? -1
}

const envelope = (run: Run, seq: number) => ({ seq, run_id: run.run_id, thread_id: run.thread_id, user_id: run.user_id })
const agent = { agent_id: 'agent-1', agent_name: 'data', timestamp: 1725659742.123 }

function toolCompleted (run: Run, seq: number, status: 'success' | 'error' | 'timeout'): RunEvent {
  return {
    type: 'tool_completed',
    ...envelope(run, seq),
    data: status === 'success'
      ? { ...agent, tool_name: 'usage_summary', tool_call_id: `call-${seq}`, status, result: { n: seq }, duration_ms: 12.4 }
      : { ...agent, tool_name: 'usage_summary', tool_call_id: `call-${seq}`, status, error: { code: status, message: 'no' }, duration_ms: 3 }
  }
}

function runEvents (run: Run): RunEvent[] {
  return [
    { type: 'agent_started', ...envelope(run, 1), data: { ...agent, message: 'looking', attempt: 1 } },
    { type: 'tool_executing', ...envelope(run, 2), data: { ...agent, tool_name: 'usage_summary', tool_call_id: 'call-3', parameters: { q: 'ä "quoted"' } } },
    toolCompleted(run, 3, 'success'),
    { type: 'agent_completed', ...envelope(run, 4), data: { ...agent, result: { summary: 'done' }, attempt: 1, duration_ms: 40.5 } },
    { type: 'run_completed', ...envelope(run, 5), data: { timestamp: 1725659743.5, result: { summary: 'done' } } }
  ]
}

requirePostgres(t)

for (const base of databaseUrls()) {
  const dialect = base.startsWith('sqlite:') ? 'sqlite' : 'postgres'

  t.test(dialect, async (t) => {
    t.test('createRun makes a thread, its user message and the run; then reuses the thread', async (t) => {
      const c = clock()
      const store = await open(t, base, c.now)
      t.equal(store.dialect, dialect)
      const t0 = c.iso()
      const content = `  Hello\n\t world  ${'x'.repeat(100)}`
      const first = await store.createRun({ ...newRun('alice', content), input: { depth: 2 } })
      const threadId = first.thread.thread_id
      const runId = first.run.run_id
      t.match(threadId, UUID)
      t.match(runId, UUID)
      t.match(first.message.message_id, UUID)
      t.strictSame(first.thread, {
        thread_id: threadId,
        user_id: 'alice',
        title: `Hello world ${'x'.repeat(68)}`,
        created_at: t0,
        updated_at: t0,
        active_run_id: runId
      })
      t.strictSame(first.message, { message_id: first.message.message_id, thread_id: threadId, role: 'user', content, run_id: runId, created_at: t0 })
      t.strictSame(first.run, {
        run_id: runId,
        thread_id: threadId,
        user_id: 'alice',
        agent: 'supervisor',
        status: 'queued',
        input: { depth: 2 },
        created_at: t0,
        started_at: null,
        finished_at: null,
        result: null,
        error: null,
        last_seq: 0
      })
      t.strictSame(await store.getThread('alice', threadId), first.thread)
      t.strictSame(await store.getRun('alice', runId), first.run)

      t.equal(first.position, 1, 'first among the queued runs')

      c.tick()
      await claimOne(t, store, first.run)
      const second = await store.createRun(newRun('alice', 'again', threadId))
      t.strictSame(second.thread, { ...first.thread, updated_at: c.iso(), active_run_id: first.run.run_id }, 'the run already active stays the active one')
      t.equal(second.run.thread_id, threadId)
      t.equal(second.run.status, 'queued')
      t.equal(second.run.input, null)
      t.equal(second.position, 1, 'the running run is not counted')
      // same timestamp: the order is still the order of writing
      const third = await store.createRun(newRun('alice', 'third', threadId))
      t.equal(third.position, 2)
      const messages = await store.listMessages('alice', threadId)
      t.strictSame(messages, [first.message, second.message, third.message])
      t.strictSame(messages?.map((m) => m.content), [content, 'again', 'third'])
    })

    t.test("another user's thread and run look exactly like missing ones", async (t) => {
      const store = await open(t, base)
      const { thread, run, message } = await store.createRun(newRun('alice', 'mine'))
      await store.appendEvents(run.run_id, await claimOne(t, store, run), runEvents(run).slice(0, 1))
      await t.rejects(store.createRun(newRun('bob', 'hijack', thread.thread_id)), { code: 'not_found', statusCode: 404 })
      await t.rejects(store.createRun(newRun('alice', 'nowhere', 'no-such-thread')), { code: 'not_found', statusCode: 404 })
      t.equal(await store.getThread('bob', thread.thread_id), undefined)
      t.equal(await store.listMessages('bob', thread.thread_id), undefined)
      t.equal(await store.getRun('bob', run.run_id), undefined)
      t.equal(await store.listEvents('bob', run.run_id, 0), undefined)
      t.equal(await store.listMessages('alice', 'no-such-thread'), undefined)
      t.equal(await store.listEvents('alice', 'no-such-run', 0), undefined)
      t.strictSame(await store.listThreads('bob', { limit: 10 }), { items: [], next_cursor: null })
      t.strictSame(await store.getThread('alice', thread.thread_id), thread, 'the refused run changed nothing')
      t.strictSame(await store.listMessages('alice', thread.thread_id), [message])
    })

    t.test('listThreads pages newest first with an opaque cursor', async (t) => {
      const c = clock()
      const store = await open(t, base, c.now)
      const ids: string[] = []
      for (let i = 0; i < 5; i++) {
        c.tick()
        ids.push((await store.createRun(newRun('alice', `thread ${i}`))).thread.thread_id)
      }
      await store.createRun(newRun('bob', 'not yours'))
      c.tick()
      await store.createRun(newRun('alice', 'bump', ids[0]))
      const expected = [ids[0], ids[4], ids[3], ids[2], ids[1]]

      const pages: string[][] = []
      let cursor: string | undefined
      do {
        const page = await store.listThreads('alice', { limit: 2, cursor })
        pages.push(page.items.map((th) => th.thread_id))
        cursor = page.next_cursor ?? undefined
      } while (cursor !== undefined)
      t.strictSame(pages, [expected.slice(0, 2), expected.slice(2, 4), expected.slice(4)])

      const all = await store.listThreads('alice', { limit: 5 })
      t.strictSame(all.items.map((th) => th.thread_id), expected)
      t.equal(all.next_cursor, null, 'a full last page has no next cursor')
      t.strictSame(all.items.map((th) => th.title), ['thread 0', 'thread 4', 'thread 3', 'thread 2', 'thread 1'])
      await t.rejects(store.listThreads('alice', { limit: 2, cursor: 'bm9wZQ' }), { code: 'invalid_request', statusCode: 400 })
    })

    t.test('threads updated at the same instant page by thread id, each exactly once', async (t) => {
      const store = await open(t, base, clock().now)
      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await store.createRun(newRun('alice', `same ${i}`))).thread.thread_id)
      const seen: string[] = []
      let cursor: string | undefined
      do {
        const page = await store.listThreads('alice', { limit: 1, cursor })
        seen.push(...page.items.map((th) => th.thread_id))
        cursor = page.next_cursor ?? undefined
      } while (cursor !== undefined)
      t.strictSame(seen, [...ids].sort().reverse())
    })

    t.test('appendEvents stores events in order, fenced by epoch and seq', async (t) => {
      const store = await open(t, base)
      const { run } = await store.createRun(newRun('alice', 'go'))
      const other = (await store.createRun(newRun('bob', 'go'))).run
      const [epoch, otherEpoch] = (await claim(store)).map((c) => c.epoch)
      t.strictSame([epoch, otherEpoch], [1, 1])
      const events = runEvents(run)
      await store.appendEvents(run.run_id, epoch, [])
      await store.appendEvents(run.run_id, epoch, events.slice(0, 2))
      await store.appendEvents(other.run_id, otherEpoch, runEvents(other).slice(0, 2))
      await store.appendEvents(run.run_id, epoch, events.slice(2))
      t.strictSame(await store.listEvents('alice', run.run_id, 0), events)
      t.strictSame(await store.listEvents('alice', run.run_id, 2), events.slice(2))
      t.strictSame(await store.listEvents('alice', run.run_id, 5), [])
      t.equal((await store.getRun('alice', run.run_id))?.last_seq, 5)
      t.equal((await store.getRun('bob', other.run_id))?.last_seq, 2)

      const next = toolCompleted(run, 6, 'success')
      await t.rejects(store.appendEvents(run.run_id, epoch, [next, events[4]!]), 'a duplicate seq')
      await t.rejects(store.appendEvents(run.run_id, epoch, [events[4]!]), FencedError, 'a seq already stored')
      await t.rejects(store.appendEvents(run.run_id, epoch, [toolCompleted(run, 7, 'success')]), FencedError, 'a gap')
      await t.rejects(store.appendEvents(run.run_id, epoch + 1, [next]), FencedError, 'an epoch not claimed yet')
      await t.rejects(store.appendEvents(run.run_id, epoch - 1, [next]), FencedError, 'an old epoch')
      await t.rejects(store.appendEvents('no-such-run', 0, [{ ...next, run_id: 'no-such-run' }]), FencedError)
      await t.rejects(store.appendEvents(run.run_id, epoch, [next, { ...next, seq: next.seq + 2 }]), /consecutive seqs/, 'a gap inside a batch')
      t.strictSame(await store.listEvents('alice', run.run_id, 0), events, 'the refused batches left nothing behind')
      t.equal((await store.getRun('alice', run.run_id))?.last_seq, 5)
      await store.appendEvents(run.run_id, epoch, [next])
      t.strictSame(await store.listEvents('alice', run.run_id, 5), [next])
    })

    t.test('a claim starts a run; finishRun ends it', async (t) => {
      const c = clock()
      const store = await open(t, base, c.now)
      const { thread, run, message } = await store.createRun(newRun('alice', 'question'))
      c.tick()
      const [claimed] = await claim(store)
      const startedAt = c.iso()
      t.strictSame(claimed, { run: { ...run, status: 'running', started_at: startedAt }, content: 'question', epoch: 1, cancel_requested: false })
      t.strictSame(await store.getRun('alice', run.run_id), { ...run, status: 'running', started_at: startedAt })
      c.tick(250)
      await t.rejects(store.finishRun(run.run_id, 0, { status: 'completed' }), FencedError, 'the epoch before the claim')
      await store.finishRun(run.run_id, 1, { status: 'completed', result: { answer: 42 }, answer: 'forty-two' })
      const finishedAt = c.iso()
      const finished = { ...run, status: 'completed' as const, started_at: startedAt, finished_at: finishedAt, result: { answer: 42 } }
      t.strictSame(await store.getRun('alice', run.run_id), finished)
      t.strictSame(await store.getThread('alice', thread.thread_id), { ...thread, updated_at: finishedAt, active_run_id: null })
      const messages = await store.listMessages('alice', thread.thread_id)
      t.strictSame(messages, [message, {
        message_id: messages?.[1]?.message_id,
        thread_id: thread.thread_id,
        role: 'assistant',
        content: 'forty-two',
        run_id: run.run_id,
        created_at: finishedAt
      }])
      c.tick()
      await t.rejects(store.finishRun(run.run_id, 1, { status: 'failed' }), FencedError, 'a finished run stays finished')
      t.strictSame(await store.getRun('alice', run.run_id), finished)

      const first = await store.createRun(newRun('alice', 'one', thread.thread_id))
      const second = await store.createRun(newRun('alice', 'two', thread.thread_id))
      const [claimedFirst, ...more] = await claim(store)
      t.equal(claimedFirst?.run.run_id, first.run.run_id)
      t.strictSame(more, [], 'the second waits for the first')
      c.tick()
      const error = { code: 'boom', message: 'it broke' }
      await store.finishRun(first.run.run_id, claimedFirst!.epoch, { status: 'failed', error })
      t.strictSame(await store.getRun('alice', first.run.run_id), {
        ...first.run, status: 'failed', started_at: claimedFirst!.run.started_at, finished_at: c.iso(), error
      })
      t.equal((await store.getThread('alice', thread.thread_id))?.active_run_id, second.run.run_id, 'the waiting run is next')
      t.equal((await store.listMessages('alice', thread.thread_id))?.length, 4, 'no answer, no message')
      await t.rejects(store.finishRun('no-such-run', 0, { status: 'cancelled' }), FencedError)
    })

    t.test("a thread's active run is its oldest unfinished run, whichever run finishes first", async (t) => {
      const store = await open(t, base)
      const first = await store.createRun(newRun('alice', 'one'))
      const epoch = await claimOne(t, store, first.run)
      const threadId = first.thread.thread_id
      const second = await store.createRun(newRun('alice', 'two', threadId))
      const third = await store.createRun(newRun('alice', 'three', threadId))
      t.equal((await store.getThread('alice', threadId))!.active_run_id, first.run.run_id)
      await store.requestCancel('alice', third.run.run_id)
      const [cancelling] = await claim(store, { runId: third.run.run_id })
      await store.finishRun(third.run.run_id, cancelling!.epoch, { status: 'cancelled', error: { code: 'cancelled', message: 'no' } })
      t.equal((await store.getThread('alice', threadId))!.active_run_id, first.run.run_id, 'cancelling the newest leaves the running one active')
      await store.finishRun(first.run.run_id, epoch, { status: 'completed', result: { ok: 1 }, answer: 'ok' })
      t.equal((await store.getThread('alice', threadId))!.active_run_id, second.run.run_id, 'the waiting run is next')
      const secondEpoch = await claimOne(t, store, second.run)
      await store.finishRun(second.run.run_id, secondEpoch, { status: 'completed', result: { ok: 2 }, answer: 'ok' })
      t.equal((await store.getThread('alice', threadId))!.active_run_id, null)
    })

    t.test("listActiveRuns lists a thread's unfinished runs oldest first; countQueued counts every user's queued runs", async (t) => {
      const c = clock()
      const store = await open(t, base, c.now)
      const running = await store.createRun(newRun('alice', 'a'))
      const threadId = running.thread.thread_id
      await claimOne(t, store, running.run)
      const waiting = [running]
      // same instant: the order is the order of the messages
      for (const content of ['b', 'c', 'd']) waiting.push(await store.createRun(newRun('alice', content, threadId)))
      c.tick()
      await store.createRun(newRun('bob', 'b'))
      const done = await store.createRun(newRun('carol', 'c'))
      await store.requestCancel('carol', done.run.run_id)
      const [cancelling] = await claim(store, { runId: done.run.run_id })
      await store.finishRun(done.run.run_id, cancelling!.epoch, { status: 'cancelled' })
      t.strictSame((await store.listActiveRuns(threadId)).map((r) => r.run_id), waiting.map((w) => w.run.run_id))
      t.strictSame(await store.listActiveRuns(threadId), [
        await store.getRun('alice', running.run.run_id), ...waiting.slice(1).map((w) => w.run)
      ])
      t.strictSame(await store.listActiveRuns(done.thread.thread_id), [])
      t.strictSame(await store.listActiveRuns('no-such-thread'), [])
      t.equal(await store.countQueued(), 4, "alice's three waiting runs and bob's")
    })

    t.test('stats counts exactly this user', async (t) => {
      const c = clock()
      const store = await open(t, base, c.now)
      t.strictSame(await store.stats('alice'), {
        runs: { queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 },
        tool_calls: 0,
        tool_errors: 0,
        mean_run_ms: null
      })
      const runs: Run[] = []
      for (let i = 0; i < 5; i++) runs.push((await store.createRun(newRun('alice', `run ${i}`))).run)
      const [completed, failed, running, , cancelled] = runs as [Run, Run, Run, Run, Run]

      // one at a time, oldest first: each run starts at the clock's time then
      const completedEpoch = await claimOne(t, store, completed)
      await store.appendEvents(completed.run_id, completedEpoch, [
        ...runEvents(completed).slice(0, 3),
        toolCompleted(completed, 4, 'error'),
        toolCompleted(completed, 5, 'timeout')
      ])
      c.tick(250)
      await store.finishRun(completed.run_id, completedEpoch, { status: 'completed', result: 1 })
      const failedEpoch = await claimOne(t, store, failed)
      c.tick(751)
      await store.finishRun(failed.run_id, failedEpoch, { status: 'failed', error: { code: 'x', message: 'y' } })
      await store.requestCancel('alice', cancelled.run_id)
      const [cancelling] = await claim(store, { runId: cancelled.run_id })
      await store.finishRun(cancelled.run_id, cancelling!.epoch, { status: 'cancelled' })
      await claimOne(t, store, running)
      const bobs = (await store.createRun(newRun('bob', 'b'))).run
      const bobsEpoch = await claimOne(t, store, bobs)
      await store.appendEvents(bobs.run_id, bobsEpoch, [toolCompleted(bobs, 1, 'error')])
      c.tick(10_000)
      await store.finishRun(bobs.run_id, bobsEpoch, { status: 'completed' })

      t.strictSame(await store.stats('alice'), {
        runs: { queued: 1, running: 1, waiting: 0, completed: 1, failed: 1, cancelled: 1 },
        tool_calls: 3,
        tool_errors: 2,
        mean_run_ms: 500.5
      })
      t.strictSame(await store.stats('bob'), {
        runs: { queued: 0, running: 0, waiting: 0, completed: 1, failed: 0, cancelled: 0 },
        tool_calls: 1,
        tool_errors: 1,
        mean_run_ms: 10_000
      })
    })

    t.test('tickets are single use and expire', async (t) => {
      const store = await open(t, base)
      await store.createTicket({ ticket: 'tk-1', user_id: 'alice', expires_at: 1000, token_exp: 1_900_000_000 })
      t.strictSame(await store.consumeTicket('tk-1', 1000), { user_id: 'alice', token_exp: 1_900_000_000 })
      t.equal(await store.consumeTicket('tk-1', 1000), undefined, 'used once')

      await store.createTicket({ ticket: 'tk-2', user_id: 'alice', expires_at: 1000.5, token_exp: 2000 })
      t.equal(await store.consumeTicket('tk-2', 1000.6), undefined, 'expired')
      t.equal(await store.consumeTicket('tk-2', 900), undefined, 'and gone')

      await store.createTicket({ ticket: 'tk-3', user_id: 'bob', expires_at: 500, token_exp: 2000 })
      t.equal(await store.consumeTicket('missing', 600), undefined)
      t.equal(await store.consumeTicket('tk-3', 400), undefined, 'expired tickets are swept on use')

      await store.createTicket({ ticket: 'tk-4', user_id: 'bob', expires_at: 2000, token_exp: 2000 })
      const results = await Promise.all([1, 2, 3, 4].map(() => store.consumeTicket('tk-4', 1500)))
      t.strictSame(results.filter((r) => r !== undefined), [{ user_id: 'bob', token_exp: 2000 }], 'one winner')
    })

    t.test('probeWrite writes and leaves nothing behind', async (t) => {
      const store = await open(t, base)
      await store.createTicket({ ticket: 'tk-1', user_id: 'alice', expires_at: 1000, token_exp: 2000 })
      await Promise.all([store.probeWrite(), store.probeWrite()])
      t.equal(await store.purgeTickets(Number.MAX_SAFE_INTEGER), 1, 'only the real ticket was there')
    })

    t.test('several stores migrate one database at the same time', async (t) => {
      const url = freshDatabaseUrl(base)
      const stores = await Promise.all([1, 2, 3].map(() => createStore(url)))
      t.teardown(async () => {
        for (const store of stores) await store.close()
        await dropSchema(url)
      })
      for (const store of stores) await store.ping()
      const [a, b] = stores as [Store, Store]
      const { thread } = await a.createRun(newRun('alice', 'shared'))
      t.equal((await b.getThread('alice', thread.thread_id))?.title, dialect === 'postgres' ? 'shared' : undefined)
    })
  })
}

t.test('a SQLite file keeps everything across a restart', async (t) => {
  const file = path.join(t.testdir(), 'nested', 'dir', 'agentwire.db')
  const c = clock()
  const first = await createStore(`sqlite:${file}`, { now: c.now })
  const created = await first.createRun(newRun('alice', 'persist me'))
  const events = runEvents(created.run)
  const epoch = await claimOne(t, first, created.run)
  await first.appendEvents(created.run.run_id, epoch, events)
  await first.finishRun(created.run.run_id, epoch, { status: 'completed', result: 'ok', answer: 'ok' })
  await first.createTicket({ ticket: 'tk', user_id: 'alice', expires_at: 2000, token_exp: 3000 })
  const thread = await first.getThread('alice', created.thread.thread_id)
  const run = await first.getRun('alice', created.run.run_id)
  const messages = await first.listMessages('alice', created.thread.thread_id)
  await first.close()

  const raw = new Sqlite(file)
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal')
  raw.close()

  const second = await createStore(`sqlite:${file}`)
  t.teardown(() => second.close())
  t.strictSame(await second.getThread('alice', created.thread.thread_id), thread)
  t.strictSame(await second.getRun('alice', created.run.run_id), run)
  t.equal(run?.last_seq, 5)
  t.strictSame(await second.listMessages('alice', created.thread.thread_id), messages)
  t.equal(messages?.length, 2)
  t.strictSame(await second.listEvents('alice', created.run.run_id, 0), events)
  t.strictSame(await second.consumeTicket('tk', 1000), { user_id: 'alice', token_exp: 3000 })
  t.strictSame((await second.listThreads('alice', { limit: 10 })).items, [thread])
})

t.test('createStore refuses urls it cannot serve', async (t) => {
  await t.rejects(createStore('mysql://localhost/db'), /DATABASE_URL/)
  await t.rejects(createStore('postgres://localhost/db?schema=Bad-Name'), /invalid schema name "Bad-Name"/)
})

for (const base of databaseUrls()) {
  t.test(`${base.split(':')[0]}: one commit holding two holders' writes for one run stores the current holder's only`, async (t) => {
    const store = await open(t, base)
    const { run } = await store.createRun({ user_id: 'alice', content: 'twice', agent: 'supervisor', multitask: 'reject', limits: { perUser: 3, queuedPerUser: 20 } })
    const [claimed] = await store.claimRuns({ owner: 'p1', now: 0, leaseMs: 1000, perUser: 3, limit: 1 })
    const stale = { run_id: run.run_id, epoch: 0, events: [toolCompleted(run, 1, 'error')] }
    const current = { run_id: run.run_id, epoch: claimed!.epoch, events: runEvents(run).slice(0, 2) }
    const fenced = await store.appendBatches([stale, current])
    t.strictSame([...fenced], [stale], 'the stale write is refused')
    t.strictSame((await store.listEvents('alice', run.run_id, 0))!.map((e) => e.seq), [1, 2])
    t.strictSame((await store.listEvents('alice', run.run_id, 0))!, current.events, 'the current holder\'s events, as written')
  })
}

for (const base of databaseUrls()) {
  t.test(`${base.split(':')[0]}: writes asked for together are each all or nothing (one SQLite commit holds them)`, async (t) => {
    const store = await open(t, base)
    const capped = { user_id: 'bob', content: 'over the cap', agent: 'supervisor', multitask: 'reject' as const, limits: { perUser: 0, queuedPerUser: 0 } }
    // bob's write makes his thread, then is refused (rate_limited); alice's, beside it, is kept
    const [refused, kept, missing] = await Promise.allSettled([
      store.createRun(capped),
      store.createRun(newRun('alice', 'fine')),
      store.finishRun('no-such-run', 1, { status: 'completed', result: 1, answer: 'x' })
    ])
    t.equal(refused.status, 'rejected')
    t.match((refused as PromiseRejectedResult).reason, { code: 'rate_limited' })
    t.strictSame((await store.listThreads('bob', { limit: 10 })).items, [], 'the refused write left nothing behind')
    t.equal(kept.status, 'fulfilled')
    const created = (kept as PromiseFulfilledResult<Awaited<ReturnType<Store['createRun']>>>).value
    t.equal((await store.getRun('alice', created.run.run_id))?.status, 'queued')
    t.equal((await store.listThreads('alice', { limit: 10 })).items.length, 1)
    t.ok((missing as PromiseRejectedResult).reason instanceof FencedError)
  })
}
