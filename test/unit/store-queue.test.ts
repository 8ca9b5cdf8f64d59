import t, { type Test } from 'tap'
import type { RunEvent } from '../../src/core/events.js'
import { createStore } from '../../src/store/kysely-store.js'
import { FencedError, type ClaimOptions, type ClaimedRun, type CreatedRun, type NewRun, type Run, type Store } from '../../src/store/types.js'
import { databaseUrls, dropSchema, freshDatabaseUrl, requirePostgres } from '../helpers/db.js'

/** The lease clock: claims and renewals get `now` from the test, never from the wall. */
const T0 = 1_000_000
const LEASE = 1000

async function open (t: Test, base: string): Promise<Store> {
  const url = freshDatabaseUrl(base)
  const store = await createStore(url)
  t.teardown(async () => {
    await store.close()
    await dropSchema(url)
  })
  return store
}

/** Several stores on one database, as several processes would have. */
async function openMany (t: Test, base: string, n: number): Promise<Store[]> {
  const url = freshDatabaseUrl(base)
  const stores: Store[] = []
  for (let i = 0; i < n; i++) stores.push(await createStore(url))
  t.teardown(async () => {
    for (const store of stores) await store.close()
    await dropSchema(url)
  })
  return stores
}

interface Submit { thread?: string, multitask?: NewRun['multitask'], perUser?: number, queuedPerUser?: number }

/** A run whose user message is `content`, so claims can be read by what they say. */
/** every run the tests made: a process renews the leases of the runs it runs, and may name any */
const created: string[] = []

const submit = async (store: Store, userId: string, content: string, o: Submit = {}): Promise<CreatedRun> => {
  const made = await store.createRun({
    user_id: userId,
    content,
    agent: 'supervisor',
    multitask: o.multitask ?? 'enqueue',
    limits: { perUser: o.perUser ?? 100, queuedPerUser: o.queuedPerUser ?? 100 },
    ...(o.thread !== undefined && { thread_id: o.thread })
  })
  created.push(made.run.run_id)
  return made
}

const renew = (store: Store, owner: string, now: number) => store.renewLeases(owner, created, now, LEASE)

const claim = (store: Store, owner: string, o: Partial<ClaimOptions> = {}): Promise<ClaimedRun[]> =>
  store.claimRuns({ owner, now: T0, leaseMs: LEASE, perUser: 100, limit: 100, ...o })

const contents = (claimed: readonly ClaimedRun[]) => claimed.map((c) => c.content)

const event = (run: Run, seq: number): RunEvent => ({
  type: 'agent_started',
  seq,
  run_id: run.run_id,
  thread_id: run.thread_id,
  user_id: run.user_id,
  data: { agent_id: 'agent-1', agent_name: 'data', message: `step ${seq}`, attempt: 1, timestamp: 1725659742.123 }
})

const finish = (store: Store, c: ClaimedRun) => store.finishRun(c.run.run_id, c.epoch, { status: 'completed', result: null })

const postgres = requirePostgres(t)

for (const base of databaseUrls()) {
  const dialect = base.startsWith('sqlite:') ? 'sqlite' : 'postgres'

  t.test(dialect, async (t) => {
    t.test('claims go round-robin between users (oldest last claim first, ties by user id), FIFO within a user', async (t) => {
      const store = await open(t, base)
      // interleaved, and bob's ids sort nowhere near their order: user_seq decides
      for (const [user, content] of [['bob', 'b1'], ['alice', 'a1'], ['bob', 'b2'], ['carol', 'c1'], ['bob', 'b3'], ['alice', 'a2'], ['bob', 'b4'], ['bob', 'b5']] as const) {
        await submit(store, user, content)
      }
      const first = await claim(store, 'p1')
      t.strictSame(contents(first), ['a1', 'b1', 'c1', 'a2', 'b2', 'b3', 'b4', 'b5'])
      t.strictSame(first.map((c) => [c.run.status, c.epoch, c.cancel_requested]), first.map(() => ['running', 1, false]))

      // last claims now: carol 3, alice 4, bob 8; dave has none
      for (const [user, content] of [['bob', 'b6'], ['alice', 'a3'], ['carol', 'c2'], ['dave', 'd1']] as const) {
        await submit(store, user, content)
      }
      const oneByOne: string[] = []
      for (let i = 0; i < 5; i++) oneByOne.push(...contents(await claim(store, 'p1', { limit: 1 })))
      t.strictSame(oneByOne, ['d1', 'c2', 'a3', 'b6'], 'then nothing is left')
      t.equal(await store.countQueued(), 0)
    })

    t.test('a user never has more than perUser runs running, whichever process claims', async (t) => {
      const store = await open(t, base)
      for (const content of ['a1', 'a2', 'a3', 'a4']) await submit(store, 'alice', content)
      await submit(store, 'bob', 'b1')
      const first = await claim(store, 'p1', { perUser: 2 })
      t.strictSame(contents(first), ['a1', 'b1', 'a2'])
      t.strictSame(await claim(store, 'p1', { perUser: 2 }), [])
      t.strictSame(await claim(store, 'p2', { perUser: 2 }), [], 'the cap counts runs of every process')
      t.equal(await store.countQueued(), 2)
      await finish(store, first[0]!)
      t.strictSame(contents(await claim(store, 'p2', { perUser: 2 })), ['a3'], 'a finished run frees its slot')
      t.strictSame(await claim(store, 'p2', { perUser: 2 }), [])
      t.strictSame(contents(await claim(store, 'p2', { perUser: 3 })), ['a4'])
    })

    t.test('a user at their cap does not hold back the next user', async (t) => {
      const store = await open(t, base)
      for (const [user, content] of [['alice', 'a1'], ['alice', 'a2'], ['bob', 'b1'], ['bob', 'b2']] as const) await submit(store, user, content)
      const first = await claim(store, 'p1', { perUser: 1 })
      t.strictSame(contents(first), ['a1', 'b1'])
      await finish(store, first[1]!)
      // alice's last claim is the oldest, but she is at her cap: the one free slot is bob's
      t.strictSame(contents(await claim(store, 'p1', { perUser: 1, limit: 1 })), ['b2'])
    })

    t.test("a thread's runs are claimed one at a time, in message order", async (t) => {
      const store = await open(t, base)
      const t1 = await submit(store, 'alice', 't1')
      const thread = t1.thread.thread_id
      await submit(store, 'alice', 't2', { thread })
      await submit(store, 'alice', 't3', { thread, multitask: 'interrupt' })
      await submit(store, 'alice', 'u1')
      const first = await claim(store, 'p1')
      t.strictSame(contents(first), ['t1', 'u1'])
      t.strictSame(await claim(store, 'p1'), [])
      await finish(store, first[0]!)
      const second = await claim(store, 'p1')
      t.strictSame(contents(second), ['t2'])
      t.strictSame(await claim(store, 'p1'), [])
      await finish(store, second[0]!)
      const third = await claim(store, 'p1')
      t.strictSame(contents(third), ['t3'])
      await finish(store, third[0]!)
      t.equal((await store.getThread('alice', thread))?.active_run_id, null)
    })

    t.test('`reject` on a busy thread is thread_busy and writes nothing, even when two race', async (t) => {
      const store = await open(t, base)
      const first = await submit(store, 'alice', 'one', { multitask: 'reject' })
      const thread = first.thread.thread_id
      const busy = { code: 'thread_busy', statusCode: 409 }
      await t.rejects(submit(store, 'alice', 'queued', { thread, multitask: 'reject' }), busy, 'a queued run makes it busy')
      const [claimed] = await claim(store, 'p1')
      await t.rejects(submit(store, 'alice', 'running', { thread, multitask: 'reject' }), busy, 'a running run makes it busy')
      t.strictSame(await store.getThread('alice', thread), first.thread, 'the refused runs changed nothing')
      t.equal((await store.listMessages('alice', thread))?.length, 1)
      t.equal(await store.countQueued(), 0)
      await store.finishRun(first.run.run_id, claimed!.epoch, { status: 'completed', result: null })

      for (let round = 0; round < 3; round++) {
        const results = await Promise.allSettled([1, 2].map((i) => submit(store, 'alice', `race ${round}.${i}`, { thread, multitask: 'reject' })))
        const won = results.filter((r) => r.status === 'fulfilled')
        const lost = results.filter((r) => r.status === 'rejected')
        t.equal(won.length, 1, 'one wins')
        t.match(lost, [{ reason: busy }], 'the other is thread_busy')
        const winner = won[0]!.value
        t.equal((await store.getThread('alice', thread))?.active_run_id, winner.run.run_id)
        t.strictSame((await store.listActiveRuns(thread)).map((r) => r.run_id), [winner.run.run_id])
        const [c] = await claim(store, 'p1')
        t.equal(c?.run.run_id, winner.run.run_id)
        await finish(store, c!)
      }
      t.equal((await store.listMessages('alice', thread))?.length, 4, 'the refused runs left no message')
    })

    t.test('the queue bound counts queued runs, enqueued thread turns too', async (t) => {
      const store = await open(t, base)
      const limits = { perUser: 1, queuedPerUser: 2 }
      const limited = { code: 'rate_limited', statusCode: 429 }
      const a1 = await submit(store, 'alice', 'a1', limits)
      const thread = a1.thread.thread_id
      t.equal(a1.position, 1)
      t.strictSame(contents(await claim(store, 'p1', { perUser: 1 })), ['a1'])
      const a2 = await submit(store, 'alice', 'a2', { ...limits, thread })
      t.equal(a2.position, 1, 'waits for its thread')
      const a3 = await submit(store, 'alice', 'a3', limits)
      t.equal(a3.position, 2, 'waits for the cap')
      await t.rejects(submit(store, 'alice', 'a4', { ...limits, thread }), limited, 'a thread turn past the bound')
      await t.rejects(submit(store, 'alice', 'a5', limits), limited, 'a new thread past the bound')
      t.equal(await store.countQueued(), 2)
      t.equal((await store.listMessages('alice', thread))?.length, 2, 'the refused turn left no message')
      t.equal((await store.listThreads('alice', { limit: 10 })).items.length, 2, 'the refused run made no thread')
      t.equal((await submit(store, 'bob', 'b1', limits)).position, 1, 'the bound is per user')

      // with no room to wait, a run that can start at once still goes, a thread turn does not
      const none = { perUser: 2, queuedPerUser: 0 }
      const c1 = await submit(store, 'carol', 'c1', none)
      t.strictSame(contents(await claim(store, 'p1', { perUser: 1 })), ['b1', 'c1'])
      await t.rejects(submit(store, 'carol', 'c2', { ...none, thread: c1.thread.thread_id }), limited)
      t.equal((await submit(store, 'carol', 'c3', none)).position, 1)
    })

    t.test('a lapsed lease is taken over with the next epoch; the old holder is fenced and writes nothing', async (t) => {
      const store = await open(t, base)
      const { run } = await submit(store, 'alice', 'long')
      await submit(store, 'bob', 'waiting')
      const [mine] = await claim(store, 'p1', { limit: 1 })
      t.equal(mine?.epoch, 1)
      await store.appendEvents(run.run_id, 1, [event(run, 1), event(run, 2)])
      // perUser 0: only lapsed runs can be claimed
      t.strictSame(await claim(store, 'p2', { now: T0 + LEASE, perUser: 0 }), [], 'not lapsed yet')
      const before = await store.getRun('alice', run.run_id)

      // bob's last claim is older than alice's, yet the lapsed run goes first, as it was
      const taken = await claim(store, 'p2', { now: T0 + LEASE + 1, limit: 1 })
      t.strictSame(taken, [{ run: before, content: 'long', epoch: 2, cancel_requested: false }])
      await t.rejects(store.appendEvents(run.run_id, 1, [event(run, 3)]), FencedError)
      await t.rejects(store.finishRun(run.run_id, 1, { status: 'failed', error: { code: 'x', message: 'y' } }), FencedError)
      t.strictSame(await store.getRun('alice', run.run_id), before, 'the run row is unchanged')
      t.strictSame(await store.listEvents('alice', run.run_id, 0), [event(run, 1), event(run, 2)], 'no event was written')
      t.strictSame(await renew(store, 'p1', T0 + LEASE + 2), [], 'p1 holds nothing')

      await store.appendEvents(run.run_id, 2, [event(run, 3)])
      await store.finishRun(run.run_id, 2, { status: 'completed', result: 'done' })
      t.strictSame(await store.getRun('alice', run.run_id), {
        ...before, status: 'completed', finished_at: (await store.getRun('alice', run.run_id))?.finished_at, result: 'done', last_seq: 3
      })
      t.strictSame(contents(await claim(store, 'p2', { now: T0 + LEASE + 2 })), ['waiting'])
    })

    t.test('renewLeases extends and answers only what the owner still holds, with cancel_requested', async (t) => {
      const store = await open(t, base)
      const a = await submit(store, 'alice', 'a')
      const b = await submit(store, 'bob', 'b')
      const c = await submit(store, 'carol', 'c')
      await claim(store, 'p1', { limit: 2 })
      const [theirs] = await claim(store, 'p2')
      t.equal(theirs?.content, 'c')
      t.strictSame(await store.requestCancel('bob', b.run.run_id), { ...b.run, status: 'running', started_at: (await store.getRun('bob', b.run.run_id))?.started_at })
      const byId = (x: { run_id: string }, y: { run_id: string }) => (x.run_id < y.run_id ? -1 : 1)
      t.strictSame((await renew(store, 'p1', T0 + 500)).sort(byId), [
        { run_id: a.run.run_id, epoch: 1, cancel_requested: false },
        { run_id: b.run.run_id, epoch: 1, cancel_requested: true }
      ].sort(byId))
      t.strictSame(contents(await claim(store, 'p3', { now: T0 + LEASE + 1 })), ['c'], "p1's renewed leases have not lapsed, p2's has")
      const taken = await claim(store, 'p3', { now: T0 + 500 + LEASE + 1 })
      t.strictSame(contents(taken).sort(), ['a', 'b'])
      t.strictSame(taken.map((x) => [x.epoch, x.cancel_requested]).sort(), [[2, false], [2, true]])
      t.strictSame(await renew(store, 'p1', T0 + 500 + LEASE + 2), [])
      t.strictSame(await renew(store, 'p2', T0 + 500 + LEASE + 2), [])
      await store.finishRun(c.run.run_id, 2, { status: 'completed', result: null })
      t.strictSame((await renew(store, 'p3', T0 + 500 + LEASE + 2)).map((h) => h.run_id).sort(), [a.run.run_id, b.run.run_id].sort(),
        'a finished run is no lease')
    })

    t.test('releaseRun makes a run claimable at once; a stale epoch releases nothing', async (t) => {
      const store = await open(t, base)
      const { run } = await submit(store, 'alice', 'handed over')
      await claim(store, 'p1')
      t.equal(await store.releaseRun(run.run_id, 0), false)
      t.strictSame(await claim(store, 'p2'), [], 'still held')
      t.equal(await store.releaseRun(run.run_id, 1), true)
      const started = await store.getRun('alice', run.run_id)
      const [taken] = await claim(store, 'p2')
      t.strictSame(taken, { run: started, content: 'handed over', epoch: 2, cancel_requested: false })
      t.equal(await store.releaseRun(run.run_id, 1), false, 'p1 let go already')
      t.strictSame(await renew(store, 'p2', T0 + 1), [{ run_id: run.run_id, epoch: 2, cancel_requested: false }])
      await finish(store, taken!)
      t.equal(await store.releaseRun(run.run_id, 2), false, 'a finished run')
    })

    t.test('a released run is no longer held by its releaser', async (t) => {
      const store = await open(t, base)
      const { run } = await submit(store, 'alice', 'handed over')
      await claim(store, 'p1')
      t.equal(await store.releaseRun(run.run_id, 1), true)
      t.strictSame(await renew(store, 'p1', T0 + 1), [])
      t.strictSame(contents(await claim(store, 'p2', { now: T0 + 2 })), ['handed over'])
    })

    t.test('a queued run claimed to cancel it stays queued, with cancel_requested', async (t) => {
      const store = await open(t, base)
      const a1 = await submit(store, 'alice', 'a1')
      const a2 = await submit(store, 'alice', 'a2')
      await submit(store, 'alice', 'a3')
      t.strictSame(contents(await claim(store, 'p1', { perUser: 1 })), ['a1'])
      t.equal(await store.requestCancel('bob', a2.run.run_id), undefined, "not bob's")
      t.strictSame(await store.requestCancel('alice', a2.run.run_id), a2.run, 'the run as it was')
      t.strictSame(await claim(store, 'p2', { runId: a1.run.run_id }), [], 'a running run is not claimed by id')
      const [cancelling] = await claim(store, 'p2', { runId: a2.run.run_id, perUser: 1 })
      t.strictSame(cancelling, { run: a2.run, content: 'a2', epoch: 1, cancel_requested: true }, 'whatever the cap')
      t.strictSame(await store.getRun('alice', a2.run.run_id), a2.run, 'still queued, never started')
      t.equal(await store.countQueued(), 2)
      t.strictSame(await claim(store, 'p3', { runId: a2.run.run_id }), [], 'held by its canceller')
      t.strictSame(contents(await claim(store, 'p3', { perUser: 5 })), ['a3'], 'the queue skips it')
      t.equal((await renew(store, 'p1', T0 + 500)).length, 1, "a1's lease goes on")
      t.equal((await renew(store, 'p3', T0 + 500)).length, 1, "a3's lease goes on")

      const [again] = await claim(store, 'p3', { now: T0 + LEASE + 1, limit: 1 })
      t.strictSame(again, { run: a2.run, content: 'a2', epoch: 2, cancel_requested: true }, 'a lapsed canceller is taken over, still queued')
      await t.rejects(store.finishRun(a2.run.run_id, 1, { status: 'cancelled' }), FencedError)
      await store.finishRun(a2.run.run_id, 2, { status: 'cancelled', error: { code: 'cancelled', message: 'cancelled' } })
      const cancelled = await store.getRun('alice', a2.run.run_id)
      t.equal(cancelled?.status, 'cancelled')
      t.equal(cancelled?.started_at, null)
      t.strictSame(await store.requestCancel('alice', a2.run.run_id), cancelled, 'a finished run answers as it is')
      t.equal(await store.countQueued(), 0)
    })
  })
}

t.test('postgres: processes claiming at the same time', { skip: postgres ? false : 'TEST_POSTGRES_URL is not set' }, async (t) => {
  const base = postgres!

  t.test('never claim one run twice and never exceed a user cap', async (t) => {
    const stores = await openMany(t, base, 3)
    const [s0] = stores as [Store]
    const users = ['u0', 'u1', 'u2', 'u3']
    for (let i = 0; i < 6; i++) for (const u of users) await submit(s0, u, `${u}-${i}`)
    const seen = new Set<string>()
    const running = new Map<string, { c: ClaimedRun, owner: string }>()
    for (let round = 0; running.size > 0 || seen.size < 24; round++) {
      if (round > 40) { t.fail('no progress'); break }
      const batches = await Promise.all(stores.map((s, i) => claim(s, `p${i}`, { perUser: 2, limit: 3 })))
      for (const [i, batch] of batches.entries()) {
        for (const c of batch) {
          if (seen.has(c.run.run_id)) t.fail(`round ${round}: ${c.content} claimed twice`)
          seen.add(c.run.run_id)
          running.set(c.run.run_id, { c, owner: `p${i}` })
        }
      }
      for (const u of users) {
        const n = [...running.values()].filter(({ c }) => c.run.user_id === u).length
        if (n > 2) t.fail(`round ${round}: ${u} runs ${n}`)
      }
      for (const [i, s] of stores.entries()) {
        const held = (await renew(s, `p${i}`, T0)).map((h) => h.run_id).sort()
        const mine = [...running.values()].filter(({ owner }) => owner === `p${i}`).map(({ c }) => c.run.run_id).sort()
        t.strictSame(held, mine, `round ${round}: p${i} holds what it claimed`)
      }
      // the oldest running run of each user ends, so claims and finishes interleave
      for (const u of users) {
        const oldest = [...running.values()].find(({ c }) => c.run.user_id === u)
        if (oldest) {
          await finish(s0, oldest.c)
          running.delete(oldest.c.run.run_id)
        }
      }
    }
    t.equal(seen.size, 24, 'every run was claimed exactly once')
    t.equal(await s0.countQueued(), 0)
  })

  t.test('take over lapsed runs exactly once', async (t) => {
    const stores = await openMany(t, base, 3)
    const [s0] = stores as [Store]
    for (let i = 0; i < 12; i++) await submit(s0, `u${i % 3}`, `r${i}`)
    t.equal((await claim(s0, 'gone')).length, 12)
    const later = T0 + LEASE + 1
    const batches = await Promise.all(stores.map((s, i) => claim(s, `p${i}`, { now: later, limit: 5 })))
    const ids = batches.flat().map((c) => c.run.run_id)
    t.equal(ids.length, 12, 'all taken over')
    t.equal(new Set(ids).size, 12, 'none twice')
    t.ok(batches.flat().every((c) => c.epoch === 2))
    for (const [i, s] of stores.entries()) {
      t.strictSame((await renew(s, `p${i}`, later)).map((h) => h.run_id).sort(), batches[i]!.map((c) => c.run.run_id).sort())
    }
  })

  t.test("one user's submissions at the same time from two processes keep the queue bound", async (t) => {
    const [s1, s2] = await openMany(t, base, 2) as [Store, Store]
    const limits = { perUser: 1, queuedPerUser: 1 }
    await submit(s1, 'alice', 'running', limits)
    await claim(s1, 'p1', { perUser: 1 })
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled([s1, s2, s1, s2].map((s, i) => submit(s, 'alice', `race ${round}.${i}`, limits)))
      const won = results.filter((r) => r.status === 'fulfilled')
      t.equal(won.length, 1, `round ${round}: one waits`)
      t.match(results.filter((r) => r.status === 'rejected'), [0, 1, 2].map(() => ({ reason: { code: 'rate_limited' } })))
      t.equal(won[0]!.value.position, 1)
      t.equal(await s1.countQueued(), 1)
      // it is claimed for cancel and ended, so the next round starts from one running run again
      const [c] = await claim(s2, 'p2', { runId: won[0]!.value.run.run_id })
      await s2.finishRun(c!.run.run_id, c!.epoch, { status: 'cancelled' })
    }
  })

  t.test('two `reject` runs on one thread from two processes: one wins', async (t) => {
    const [s1, s2] = await openMany(t, base, 2) as [Store, Store]
    const first = await submit(s1, 'alice', 'first')
    const thread = first.thread.thread_id
    const [c] = await claim(s1, 'p1')
    await finish(s1, c!)
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([s1, s2].map((s, i) => submit(s, 'alice', `race ${round}.${i}`, { thread, multitask: 'reject' })))
      t.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
      t.match(results.filter((r) => r.status === 'rejected'), [{ reason: { code: 'thread_busy' } }])
      const [next] = await claim(s2, 'p2')
      await finish(s2, next!)
    }
    t.equal((await s1.listMessages('alice', thread))?.length, 6)
  })
})
