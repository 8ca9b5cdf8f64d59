import t from 'tap'
import type { PageEvent } from '../../web/src/state/run-view.js'
import { followRun, loadThread, unfinished, type FollowedRun, type RunFollower, type ThreadSource } from '../../web/src/state/thread.js'

const T = 'thread-1'
const ev = (run_id: string, seq: number, type: string, data: Record<string, unknown> = {}): PageEvent =>
  ({ type, seq, run_id, thread_id: T, data: { timestamp: 1796064305 + seq, agent_id: 'a', agent_name: 'supervisor', ...data } })
const started = (run: string, seq = 1) => ev(run, seq, 'agent_started', { message: 'm', attempt: 1 })
const thought = (run: string, seq: number) => ev(run, seq, 'agent_thinking', { thought: `t${seq}` })

/** A stored thread: run `done` finished, run `live` has 3 events so far. */
function store (): ThreadSource & { asked: Array<[string, number]> } {
  const events: Record<string, PageEvent[]> = {
    done: [started('done'), ev('done', 2, 'agent_completed', { attempt: 1, duration_ms: 5 }), ev('done', 3, 'run_completed', { result: 'ok' })],
    live: [started('live'), thought('live', 2), thought('live', 3), thought('live', 4), thought('live', 5)]
  }
  const stored = { done: 3, live: 3 } as Record<string, number>
  const asked: Array<[string, number]> = []
  return {
    asked,
    async threadMessages () {
      return [
        { message_id: 'm1', role: 'user', content: 'first', run_id: 'done', created_at: '2026-01-01T00:00:00.000Z' },
        { message_id: 'm2', role: 'assistant', content: 'ok', run_id: 'done', created_at: '2026-01-01T00:00:01.000Z' },
        { message_id: 'm3', role: 'user', content: 'second', run_id: 'live', created_at: '2026-01-01T00:01:00.000Z' }
      ]
    },
    async runEvents (runId, after = 0) {
      asked.push([runId, after])
      const n = stored[runId]!
      stored[runId] = events[runId]!.length
      return events[runId]!.slice(after, n)
    }
  }
}

/** A client whose live feed sends `live` events (as a socket would after a reconnect). */
function liveClient (live: PageEvent[]): RunFollower & { followed: Array<[string, number]>, stopped: number } {
  const c = {
    followed: [] as Array<[string, number]>,
    stopped: 0,
    async run (runId: string, opts: { after_seq: number }): Promise<FollowedRun> {
      c.followed.push([runId, opts.after_seq])
      return {
        async * events () { yield * live },
        stop () { c.stopped++ }
      }
    }
  }
  return c
}

t.test('a reload rebuilds every run of the thread from its stored events', async (t) => {
  const turns = await loadThread(store(), T)
  t.strictSame(turns.map((x) => [x.content, x.run.run_id, x.run.status, x.run.lastSeq]), [['first', 'done', 'completed', 3], ['second', 'live', 'running', 3]])
  t.equal(turns[0].run.answer, 'ok')
  t.strictSame(unfinished(turns).map((x) => x.run.run_id), ['live'], 'only the unfinished run is followed')
})

t.test('resume: the live run is followed after its last stored seq, and an overlap applies once', async (t) => {
  const source = store()
  const [, turn] = await loadThread(source, T)
  // the socket replays from after_seq; a reconnect in the middle may send seq 4 twice
  const client = liveClient([thought('live', 4), thought('live', 4), thought('live', 5), ev('live', 6, 'run_completed', { result: 'fine' })])
  const seen: number[] = []
  await followRun(client, source, turn.run, (v) => seen.push(v.lastSeq))
  t.strictSame(client.followed, [['live', 3]], 'followed with after_seq = the last stored seq')
  t.strictSame(seen, [4, 5, 6], 'each event once')
  t.equal(turn.run.status, 'completed')
  t.equal(turn.run.answer, 'fine')
  t.equal(client.stopped, 0, 'a run that ended needs no stop')
})

t.test('resume: a gap in the live feed is filled from the stored events', async (t) => {
  const source = store()
  const [, turn] = await loadThread(source, T)
  const client = liveClient([thought('live', 6), ev('live', 7, 'run_completed', { result: 'fine' })])
  const seen: number[] = []
  await followRun(client, source, turn.run, (v) => seen.push(v.lastSeq))
  t.strictSame(source.asked.filter(([run]) => run === 'live'), [['live', 0], ['live', 3]], 'the missing seqs were asked for from 3')
  t.strictSame(seen, [6, 7], 'after the gap was filled (4, 5), 6 and 7 applied')
  t.equal(turn.run.lastSeq, 7)
})

t.test('leaving the thread stops the follow; a finished run is never followed', async (t) => {
  const source = store()
  const [done, turn] = await loadThread(source, T)
  const idle = liveClient([])
  await followRun(idle, source, done.run, () => {})
  t.strictSame(idle.followed, [], 'nothing to follow for a finished run')

  const controller = new AbortController()
  const client = {
    stopped: 0,
    async run (): Promise<FollowedRun> {
      return {
        async * events () {
          yield thought('live', 4)
          // a live feed that would wait forever
          await new Promise<void>(() => {})
        },
        stop () { client.stopped++ }
      }
    }
  }
  const following = followRun(client, source, turn.run, () => controller.abort(), controller.signal)
  await following
  t.equal(client.stopped >= 1, true, 'the aborted follow stopped the client\'s run')
  t.equal(turn.run.lastSeq, 4)
})
