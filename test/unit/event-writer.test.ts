import t from 'tap'
import { EventWriter } from '../../src/core/engine/event-writer.js'
import type { RunEvent } from '../../src/core/events.js'
import { FencedError, type EventBatch, type Store } from '../../src/store/types.js'

const event = (run: string, seq: number): RunEvent => ({
  type: 'agent_thinking', seq, run_id: run, thread_id: 't', user_id: 'u', data: { agent_id: 'a', agent_name: 'x', thought: `${seq}`, timestamp: seq }
})

/** A store whose group commits the test sees; `fail` makes the next commits throw, `fence` refuses runs. */
function fakeStore () {
  const commits: Array<Array<[string, number[]]>> = []
  const state: { fail: number, fence: Set<string>, probing?: () => Promise<void> } = { fail: 0, fence: new Set<string>() }
  const store = {
    async appendBatches (batches: readonly EventBatch[]) {
      if (state.fail > 0) { state.fail--; throw new Error('database is locked') }
      commits.push(batches.map((b) => [b.run_id, b.events.map((e) => e.seq)]))
      return new Set(batches.filter((b) => state.fence.has(b.run_id)))
    },
    async probeWrite () {
      await state.probing?.()
      if (state.fail > 0) { state.fail--; throw new Error('database is full') }
    }
  } as unknown as Store
  return { store, commits, state }
}

t.test('the writes of one tick share one commit; a write during a commit waits for the next', async (t) => {
  const { store, commits } = fakeStore()
  const writer = new EventWriter(store, [])
  const first = [writer.write('r1', 1, [event('r1', 1), event('r1', 2)]), writer.write('r2', 1, [event('r2', 1)]), writer.write('r3', 4, [event('r3', 7)])]
  await Promise.all(first)
  t.strictSame(commits, [[['r1', [1, 2]], ['r2', [1]], ['r3', [7]]]])
  await writer.write('r1', 1, [event('r1', 3)])
  t.strictSame(commits.at(-1), [['r1', [3]]])
})

t.test('a fenced run gets FencedError; the others in its commit are stored', async (t) => {
  const { store, commits, state } = fakeStore()
  state.fence.add('stale')
  const writer = new EventWriter(store, [])
  const ok = writer.write('live', 2, [event('live', 5)])
  const stale = writer.write('stale', 1, [event('stale', 9)])
  await ok
  await t.rejects(stale, FencedError)
  t.equal(commits.length, 1)
  t.equal(writer.failing, false)
})

t.test('a failed commit is retried on its schedule; it fails its writes only after the last retry', async (t) => {
  const { store, commits, state } = fakeStore()
  state.fail = 2
  const writer = new EventWriter(store, [1, 1])
  await writer.write('r1', 1, [event('r1', 1)])
  t.strictSame(commits, [[['r1', [1]]]], 'stored once, after two failures')
  t.equal(writer.failing, false)

  state.fail = 3
  await t.rejects(writer.write('r1', 1, [event('r1', 2)]), /database is locked/)
  t.equal(writer.failing, true, 'readiness can tell')
  // a commit whose every write was fenced wrote nothing: it says nothing of the store (a full disk refuses no no-op)
  state.fence.add('stale')
  await t.rejects(writer.write('stale', 1, [event('stale', 9)]), FencedError)
  t.equal(writer.failing, true, 'a commit that wrote nothing does not make the store well')
  await writer.write('r1', 1, [event('r1', 2)])
  t.equal(writer.failing, false, 'and tells when it is back')
})

t.test('while failing, a probe that writes clears the flag; one the store refuses leaves it, with the error', async (t) => {
  const { store, state } = fakeStore()
  const writer = new EventWriter(store, [])
  state.fail = 1
  await t.rejects(writer.write('r1', 1, [event('r1', 1)]), /database is locked/)
  t.equal(writer.failing, true)
  state.fail = 1
  await t.rejects(writer.probe(), /database is full/)
  t.equal(writer.failing, true, 'a refused probe: still failing')
  await writer.probe()
  t.equal(writer.failing, false, 'the store took a write: no longer failing, with no commit at all')

  // a commit that fails for good while a probe runs wins: the probe's write may have come before the failure
  state.fail = 1
  await t.rejects(writer.write('r1', 1, [event('r1', 1)]), /database is locked/)
  let release = () => {}
  state.probing = () => new Promise<void>((resolve) => { release = resolve })
  const probe = writer.probe()
  state.fail = 1
  await t.rejects(writer.write('r1', 1, [event('r1', 1)]), /database is locked/)
  state.probing = undefined
  release()
  await probe
  t.equal(writer.failing, true, 'a commit failed while the probe ran')
})
