import t from 'tap'
import { RunFeed } from '../../src/core/run-feed.js'
import { ev, fakeBus, fakeClock, fakeStore, fakeTarget, quietLog, settle } from '../helpers/feed-fakes.js'

/**
 * CONTRACT §5 rules 1–2 at the feed, with a store, a bus and a clock the test steps. Each test
 * names the deliberate bug it catches (issue 8, "Tests that do not hold the guarantees").
 */

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

function setup (opts: { holdSubscribe?: boolean, pageSize?: number } = {}) {
  const store = fakeStore()
  const bus = fakeBus({ holdSubscribe: opts.holdSubscribe })
  const clock = fakeClock()
  const feed = new RunFeed({ store: store.store, bus: bus.bus, log: quietLog, stallMs: 5000, pollMs: 1000, pageSize: opts.pageSize ?? 500, clock })
  store.addRun('run-1')
  return { store, bus, clock, feed }
}

t.test('the seam: an event read from the store and then published is written once (bug: `seq <= last` → `<`)', async (t) => {
  const { store, bus, feed } = setup()
  store.append(ev(1), ev(2), ev(3))
  const target = fakeTarget()
  let lastSeq: number | undefined
  await feed.follow(target.target, 'run-1', 0, (n) => { lastSeq = n })
  await settle()
  t.equal(lastSeq, 3, 'subscribed tells the last seq stored')
  t.strictSame(target.seqs(), [1, 2, 3], 'replayed from the store')

  // 3 was stored before the follower read it; its publication arrives only now
  await bus.publish(ev(3))
  store.append(ev(4))
  await bus.publish(ev(4))
  await bus.publish(ev(4))
  store.append(ev(5, { type: 'run_completed' }))
  await bus.publish(ev(5, { type: 'run_completed' }))
  t.strictSame(target.seqs(), [1, 2, 3, 4, 5], 'every seq exactly once, in order')
  t.equal(target.state.ended, 1, 'ended after the terminal event')
  t.equal(feed.channels, 0, 'the bus subscription is released')
})

t.test('the seam from the other side: published while the store read is under way, written once', async (t) => {
  const { store, bus, feed } = setup()
  store.append(ev(1))
  store.hold()
  const target = fakeTarget()
  const following = feed.follow(target.target, 'run-1', 0)
  await settle()
  // the read is under way; 2 is stored and published before it returns
  store.append(ev(2))
  await bus.publish(ev(2))
  store.release()
  await following
  await settle()
  t.strictSame(target.seqs(), [1, 2])
  store.append(ev(3))
  await bus.publish(ev(3))
  t.strictSame(target.seqs(), [1, 2, 3])
})

t.test('the bus is listened to before the store is read: the terminal event published meanwhile is not lost (bug: subscribe after reading)', async (t) => {
  const { store, bus, feed } = setup({ holdSubscribe: true })
  store.append(ev(1), ev(2))
  const target = fakeTarget()
  const following = feed.follow(target.target, 'run-1', 0)
  await settle()
  // the run ends while the subscription is not live yet: its publication reaches no one
  store.append(ev(3, { type: 'run_completed' }))
  await bus.publish(ev(3, { type: 'run_completed' }))
  bus.goLive()
  t.ok(await following, 'followed')
  await settle()
  t.strictSame(target.seqs(), [1, 2, 3], 'the terminal event came from the store')
  t.equal(target.state.ended, 1)
})

t.test('a stopped follower writes nothing: not what the store read returns late, not what the bus brings (bug: a stale subscription still sends)', async (t) => {
  const { store, bus, feed } = setup()
  store.append(ev(1), ev(2))
  store.hold()
  const first = fakeTarget()
  const handle = await feed.follow(first.target, 'run-1', 0)
  handle!.stop()
  store.release()
  await settle()
  t.strictSame(first.seqs(), [], 'the read under way at the stop is dropped')

  // replaced: the old follower is stopped and the new one is the only one that writes
  const old = fakeTarget()
  const oldHandle = await feed.follow(old.target, 'run-1', 0)
  await settle()
  const current = fakeTarget()
  await feed.follow(current.target, 'run-1', 2)
  oldHandle!.stop()
  store.append(ev(3))
  await bus.publish(ev(3))
  await settle()
  t.strictSame(old.seqs(), [1, 2], 'the stale follower got nothing after its stop')
  t.strictSame(current.seqs(), [3])
})

t.test('an event of another user on the run\'s channel is not delivered (bug: no delivery-time owner check)', async (t) => {
  const { store, bus, feed } = setup()
  store.append(ev(1))
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  await bus.publish(ev(2, { user: 'mallory' }))
  await bus.publish(ev(2, { run: 'run-2' }))
  t.strictSame(target.seqs(), [1], 'refused at delivery')
  store.append(ev(2))
  await bus.publish(ev(2))
  t.strictSame(target.sent.map((e) => [e.seq, e.user_id, e.run_id]), [[1, 'alice', 'run-1'], [2, 'alice', 'run-1']])
})

t.test('a run of another user is not found, and nothing is subscribed for it', async (t) => {
  const { store, feed } = setup()
  store.addRun('run-bob', { user: 'bob' })
  let subscribed = false
  t.equal(await feed.follow(fakeTarget().target, 'run-bob', 0, () => { subscribed = true }), undefined)
  t.equal(subscribed, false)
  t.equal(feed.channels, 0)
})

t.test('a gap in seq (a lost bus message) is read from the store, in order', async (t) => {
  const { store, bus, feed } = setup()
  store.append(ev(1), ev(2))
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  store.append(ev(3), ev(4), ev(5))
  // the messages of 3 and 4 were lost; 5 arrives
  await bus.publish(ev(5))
  await settle()
  t.strictSame(target.seqs(), [1, 2, 3, 4, 5])
  store.append(ev(6))
  await bus.publish(ev(6))
  t.strictSame(target.seqs(), [1, 2, 3, 4, 5, 6], 'live again after the gap')
})

t.test('one bus message holds a flush of several events, one per line', async (t) => {
  const { store, bus, feed } = setup()
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  store.append(ev(1), ev(2), ev(3))
  await bus.publish(ev(1), ev(2), ev(3))
  t.strictSame(target.seqs(), [1, 2, 3])
  t.strictSame(target.jsons, [1, 2, 3].map((n) => JSON.stringify(ev(n))), 'each event\'s JSON is the line as published')
})

t.test('bus down: followers read the store every pollMs; bus up: they catch up and go live, nothing lost or twice', async (t) => {
  const { store, bus, clock, feed } = setup()
  store.append(ev(1))
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  t.strictSame(target.seqs(), [1])

  bus.status(false)
  await settle()
  // published while down: lost on the bus, but stored
  store.append(ev(2), ev(3))
  await clock.advance(999)
  t.strictSame(target.seqs(), [1], 'not before the poll')
  await clock.advance(1)
  t.strictSame(target.seqs(), [1, 2, 3], 'the poll read them')
  store.append(ev(4))
  await clock.advance(1000)
  t.strictSame(target.seqs(), [1, 2, 3, 4])

  store.append(ev(5))
  bus.status(true)
  await settle()
  t.strictSame(target.seqs(), [1, 2, 3, 4, 5], 'caught up at once when the bus is back')
  // a message of the outage delivered late, then live ones
  await bus.publish(ev(4), ev(5))
  store.append(ev(6, { type: 'run_completed' }))
  await bus.publish(ev(6, { type: 'run_completed' }))
  t.strictSame(target.seqs(), range(1, 6), 'exactly once, in order')
  t.equal(target.state.ended, 1)
  t.equal(clock.pending, 0, 'no poll left behind')
})

t.test('replay pages through the store; a fast target gets the whole run without a cut', async (t) => {
  const { store, feed } = setup({ pageSize: 500 })
  store.append(...range(1, 1199).map((n) => ev(n)), ev(1200, { type: 'run_completed' }))
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  await settle(30)
  t.strictSame(target.seqs(), range(1, 1200))
  t.strictSame(store.reads.map((r) => [r.afterSeq, r.limit]), [[0, 500], [500, 500], [1000, 500]], 'three pages of at most 500')
  t.equal(target.state.ended, 1)
  t.equal(target.state.cut, 0)
})

t.test('backpressure: a full target gets nothing until it drains; what it missed comes from the store', async (t) => {
  const { store, bus, clock, feed } = setup({ pageSize: 3 })
  store.append(...range(1, 5).map((n) => ev(n)))
  const target = fakeTarget()
  target.fill()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  t.strictSame(target.seqs(), [1], 'one event, then it waits')
  store.append(ev(6))
  await bus.publish(ev(6))
  t.strictSame(target.seqs(), [1], 'a live event waits too')
  await clock.advance(4000)
  target.drain()
  await settle()
  t.strictSame(target.seqs(), range(1, 6), 'after the drain: the rest, from the store, in order')
  t.equal(target.state.cut, 0, 'drained within stallMs: not cut')
})

t.test('a target that stays full stallMs is cut, and nothing more is written to it', async (t) => {
  const { store, bus, clock, feed } = setup()
  store.append(ev(1), ev(2))
  const target = fakeTarget()
  target.fill()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  await clock.advance(4999)
  t.equal(target.state.cut, 0)
  await clock.advance(1)
  t.equal(target.state.cut, 1, 'cut')
  target.drain()
  store.append(ev(3))
  await bus.publish(ev(3))
  await settle()
  t.strictSame(target.seqs(), [1], 'nothing after the cut')
  t.equal(feed.channels, 0)
})

t.test('a failing store read is retried; a follower of a run finished from its last event ends at once', async (t) => {
  const { store, clock, feed } = setup()
  store.append(ev(1), ev(2, { type: 'run_completed' }))
  store.fail(2)
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  t.strictSame(target.seqs(), [])
  await clock.advance(2000)
  t.strictSame(target.seqs(), [1, 2], 'retried after pollMs')

  const late = fakeTarget()
  await feed.follow(late.target, 'run-1', 2)
  t.strictSame([late.seqs(), late.state.ended], [[], 1], 'nothing to send: ended')
})

t.test('a finished run whose events were purged (retention) ends its follower instead of waiting', async (t) => {
  const { store, feed } = setup()
  store.append(ev(1), ev(2, { type: 'run_completed' }))
  store.reads.length = 0
  // what EVENT_RETENTION_DAYS leaves: the run, finished, with no events
  ;(store.store as unknown as { listEvents: () => Promise<unknown[]> }).listEvents = async () => []
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  await settle()
  t.equal(target.state.ended, 1)
  t.equal(feed.channels, 0)
})

t.test('stop() is synchronous: every follower and watch stops at once', async (t) => {
  const { store, bus, feed } = setup()
  store.addRun('run-2', { thread: 'thread-9' })
  const target = fakeTarget()
  await feed.follow(target.target, 'run-1', 0)
  const announced: string[] = []
  await feed.watchThread('alice', 'thread-9', (id) => announced.push(id))
  await settle()
  feed.stop()
  t.equal(feed.channels, 0)
  store.append(ev(1))
  await bus.publish(ev(1))
  await bus.announce('thread-9', 'run-3')
  t.strictSame([target.seqs(), announced], [[], []])
  t.equal(await feed.follow(fakeTarget().target, 'run-1', 0), undefined, 'a stopped feed follows nothing')
})

t.test('thread watch: runs from the bus, and while the bus is down from the store; each once', async (t) => {
  const { store, bus, clock, feed } = setup()
  store.addRun('run-a', { thread: 'thread-9' })
  const announced: string[] = []
  const watching = await feed.watchThread('alice', 'thread-9', (id) => announced.push(id))
  t.strictSame(watching?.runIds, ['run-a'], 'the active run is to be followed now')
  t.equal(await feed.watchThread('bob', 'thread-9', () => {}), undefined, 'another user\'s thread is not found')

  store.addRun('run-b', { thread: 'thread-9' })
  await bus.announce('thread-9', 'run-b')
  await bus.announce('thread-9', 'run-b')
  t.strictSame(announced, ['run-b'])

  bus.status(false)
  store.addRun('run-c', { thread: 'thread-9' })
  await clock.advance(1000)
  t.strictSame(announced, ['run-b', 'run-c'], 'found by polling the thread')
  store.addRun('run-d', { thread: 'thread-9' })
  bus.status(true)
  await settle()
  await bus.announce('thread-9', 'run-d')
  t.strictSame(announced, ['run-b', 'run-c', 'run-d'], 'read once more when the bus is back; its late announcement is not a second one')
  watching!.stop()
  t.equal(bus.listeners('thread:thread-9'), 0)
})
