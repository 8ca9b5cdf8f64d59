import t from 'tap'
import { createMemoryBus } from '../../src/bus/memory.js'
import { eventLines, runChannel } from '../../src/bus/types.js'
import { silentLogger } from '../../src/core/context.js'
import { writerFor } from '../../src/core/engine/event-writer.js'
import { RunFailure } from '../../src/core/engine/failures.js'
import { ContractViolation, MAX_EVENT_BYTES, RunEmitter, splitText } from '../../src/core/engine/run-emitter.js'
import type { EventInput, RunEvent } from '../../src/core/events.js'
import type { EventBatch, Store } from '../../src/store/types.js'

const IDS = { run_id: 'run-1', thread_id: 'thread-1', user_id: 'user-1' }
const TS = 1725659742.123

const deferred = () => {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}

/**
 * A store that records every group commit. With `hold`, each call waits for the test to
 * settle it: `calls[i].done.resolve()` or `.reject(err)`.
 */
function fakeStore (opts: { hold?: boolean } = {}) {
  const calls: Array<{ events: RunEvent[], done: ReturnType<typeof deferred> }> = []
  let called = deferred()
  const store = {
    appendBatches (batches: readonly EventBatch[]) {
      const done = deferred()
      calls.push({ events: batches.flatMap((b) => b.events), done })
      called.resolve()
      called = deferred()
      if (!opts.hold) done.resolve()
      return done.promise.then(() => new Set<EventBatch>())
    }
  } as unknown as Store
  // a failed append fails at once here; the writer's retries have a test of their own
  writerFor(store, [])
  return { store, calls, nextCall: () => called.promise }
}

/** An emitter on a fake store and the memory bus, with what the bus delivered on the run's channel. */
async function setup (opts: { hold?: boolean, history?: RunEvent[] } = {}) {
  const { store, calls, nextCall } = fakeStore(opts)
  const bus = createMemoryBus()
  const published: RunEvent[] = []
  await bus.subscribe(runChannel(IDS.run_id), (message) => { for (const json of eventLines(message)) published.push(JSON.parse(json)) })
  const emitter = new RunEmitter(IDS, { store, bus, log: silentLogger, epoch: 1 }, opts.history)
  return { emitter, calls, nextCall, published, bus }
}

const started = (agent_id = 'a1', attempt = 1): EventInput => ({ type: 'agent_started', data: { agent_id, agent_name: 'agent', message: 'Running agent', attempt, timestamp: TS } })
const completed = (agent_id = 'a1', attempt = 1): EventInput => ({ type: 'agent_completed', data: { agent_id, agent_name: 'agent', result: { ok: true }, attempt, duration_ms: 1, timestamp: TS } })
const failed = (agent_id = 'a1', attempt = 1): EventInput => ({ type: 'agent_error', data: { agent_id, agent_name: 'agent', error: { code: 'boom', message: 'boom' }, retryable: true, attempt, timestamp: TS } })
const executing = (tool_call_id = 'c1', agent_id = 'a1'): EventInput => ({ type: 'tool_executing', data: { agent_id, agent_name: 'agent', tool_name: 'echo', tool_call_id, parameters: {}, timestamp: TS } })
const progress = (tool_call_id = 'c1', agent_id = 'a1'): EventInput => ({ type: 'tool_progress', data: { agent_id, agent_name: 'agent', tool_name: 'echo', tool_call_id, message: 'half', progress: 0.5, timestamp: TS } })
const toolDone = (tool_call_id = 'c1', agent_id = 'a1'): EventInput => ({ type: 'tool_completed', data: { agent_id, agent_name: 'agent', tool_name: 'echo', tool_call_id, status: 'success', result: {}, duration_ms: 1, timestamp: TS } })
const thinking = (agent_id = 'a1'): EventInput => ({ type: 'agent_thinking', data: { agent_id, agent_name: 'agent', thought: 'hmm', timestamp: TS } })
const runCompleted: EventInput = { type: 'run_completed', data: { result: { ok: true }, timestamp: TS } }
const runFailed: EventInput = { type: 'run_failed', data: { error: { code: 'boom', message: 'boom' }, timestamp: TS } }
const runCancelled: EventInput = { type: 'run_cancelled', data: { reason: 'by the user', timestamp: TS } }

const envelope = (seq: number, e: EventInput) => ({ type: e.type, seq, ...IDS, data: e.data }) as RunEvent

/** The ContractViolation message `emit(e)` throws at once; fails the test if it does not throw. */
function refused (t: Tap, emitter: RunEmitter, e: EventInput): string {
  try {
    emitter.emit(e).catch(() => {})
  } catch (err) {
    t.ok(err instanceof ContractViolation, 'a ContractViolation, thrown at once')
    return (err as Error).message
  }
  t.fail(`${e.type} was accepted`)
  return ''
}
interface Tap { ok (v: unknown, m: string): boolean, fail (m: string): boolean }

t.test('seq starts at 1 and grows by one; every event carries the run\'s ids', async (t) => {
  const { emitter, calls, published } = await setup()
  t.equal(emitter.seq, 0)
  await emitter.emit(started())
  await emitter.emit(thinking())
  await emitter.emit(completed())
  await emitter.emit(runCompleted)
  const want = [envelope(1, started()), envelope(2, thinking()), envelope(3, completed()), envelope(4, runCompleted)]
  t.strictSame(calls.flatMap((c) => c.events), want)
  t.strictSame(published, want)
  t.equal(emitter.seq, 4)
  t.equal(emitter.ended, true)
})

t.test('an event is published only after the store has it', async (t) => {
  const { emitter, calls, nextCall, published } = await setup({ hold: true })
  let resolved = false
  const emitted = emitter.emit(started()).then(() => { resolved = true })
  await nextCall()
  t.strictSame(calls.map((c) => c.events), [[envelope(1, started())]])
  // give the emitter every chance to publish early
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  t.strictSame(published, [], 'nothing is published while the append is pending')
  t.equal(resolved, false, 'emit has not resolved')
  calls[0].done.resolve()
  await emitted
  t.strictSame(published, [envelope(1, started())])
})

t.test('events emitted while an append is pending wait for it, then go in one batch, in order', async (t) => {
  const { emitter, calls, nextCall, published } = await setup({ hold: true })
  const first = emitter.emit(started())
  await nextCall()
  const second = emitter.emit(thinking())
  const third = emitter.emit(completed())
  t.equal(second, third, 'one promise per batch')
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(calls.length, 1, 'the next batch is not appended before the previous one is stored')
  calls[0].done.resolve()
  await first
  await nextCall()
  t.strictSame(calls.map((c) => c.events.map((e) => e.seq)), [[1], [2, 3]])
  t.strictSame(published.map((e) => e.seq), [1])
  calls[1].done.resolve()
  await third
  t.strictSame(published.map((e) => e.seq), [1, 2, 3])
})

t.test('several emits in one tick are stored with one appendEvents call', async (t) => {
  const { emitter, calls, published } = await setup()
  const promises = [emitter.emit(started()), emitter.emit(executing()), emitter.emit(progress()), emitter.emit(toolDone())]
  t.equal(calls.length, 0, 'nothing is stored synchronously')
  await Promise.all(promises)
  t.strictSame(calls.map((c) => c.events.map((e) => e.type)), [['agent_started', 'tool_executing', 'tool_progress', 'tool_completed']])
  t.strictSame(published.map((e) => e.seq), [1, 2, 3, 4])
  await emitter.emit(completed())
  t.strictSame(calls.map((c) => c.events.map((e) => e.seq)), [[1, 2, 3, 4], [5]], 'a later tick is a new batch')
})

t.test('refusals: what would break CONTRACT §5 rules 3–4 throws at once and is never stored', async (t) => {
  const { emitter, calls } = await setup()
  t.equal(refused(t, emitter, completed()), 'agent_completed refused: agent a1 attempt 1 is not open')
  t.equal(refused(t, emitter, failed()), 'agent_error refused: agent a1 attempt 1 is not open')
  t.equal(refused(t, emitter, thinking()), 'agent_thinking refused: agent a1 is not running')
  t.equal(refused(t, emitter, executing()), 'tool_executing refused: agent a1 is not running')
  t.equal(refused(t, emitter, started('a1', 2)), 'agent_started refused: attempt 2 does not follow 0')
  t.equal(refused(t, emitter, started('a1', 0)), 'agent_started refused: attempt 0 does not follow 0')

  await emitter.emit(started())
  t.equal(refused(t, emitter, started()), 'agent_started refused: agent a1 is already running')
  t.equal(refused(t, emitter, completed('a1', 2)), 'agent_completed refused: agent a1 attempt 2 is not open')
  t.equal(refused(t, emitter, toolDone('nope')), 'tool_completed refused: tool call nope is not open')
  t.equal(refused(t, emitter, progress('nope')), 'tool_progress refused: tool call nope is not open')
  t.equal(refused(t, emitter, runCompleted), 'run_completed refused: agents, tool calls or interrupts are still open')

  await emitter.emit(executing())
  t.equal(refused(t, emitter, executing()), 'tool_executing refused: tool call c1 exists')
  t.equal(refused(t, emitter, toolDone('c1', 'a2')), 'tool_completed refused: tool call c1 is not open', 'another agent cannot close the call')
  t.equal(refused(t, emitter, completed()), 'agent_completed refused: agent a1 has open tool calls')
  t.equal(refused(t, emitter, failed()), 'agent_error refused: agent a1 has open tool calls')
  t.equal(refused(t, emitter, runFailed), 'run_failed refused: agents, tool calls or interrupts are still open')
  await emitter.emit(toolDone())
  t.equal(refused(t, emitter, toolDone()), 'tool_completed refused: tool call c1 is not open', 'a call completes once')
  t.equal(refused(t, emitter, runCancelled), 'run_cancelled refused: agents, tool calls or interrupts are still open')

  await emitter.emit(failed())
  t.equal(refused(t, emitter, failed()), 'agent_error refused: agent a1 attempt 1 is not open', 'an attempt closes once')
  t.equal(refused(t, emitter, started('a1', 3)), 'agent_started refused: attempt 3 does not follow 1')
  t.equal(refused(t, emitter, started('a1', 1)), 'agent_started refused: attempt 1 does not follow 1')
  await emitter.emit(started('a1', 2))
  await emitter.emit(completed('a1', 2))

  const bad = { type: 'agent_thinking', data: { agent_id: 'a3', agent_name: 'agent', timestamp: TS } } as unknown as EventInput
  await emitter.emit(started('a3'))
  t.equal(refused(t, emitter, bad), 'agent_thinking does not match its schema: /data/thought: Expected required property')
  t.equal(refused(t, emitter, { type: 'agent_dreaming', data: {} } as unknown as EventInput), 'agent_dreaming is not an event type')
  t.equal(refused(t, emitter, { type: 'run_queued', data: 'text' } as unknown as EventInput), 'run_queued does not match its schema: /data: Expected object')
  await emitter.emit(completed('a3'))

  await emitter.emit(runFailed)
  for (const e of [started('a9'), runCompleted, runFailed, thinking()]) {
    t.equal(refused(t, emitter, e), `${e.type} refused: the run has ended`)
  }
  t.strictSame(calls.flatMap((c) => c.events).map((e) => `${e.seq} ${e.type}`), [
    '1 agent_started',
    '2 tool_executing',
    '3 tool_completed',
    '4 agent_error',
    '5 agent_started',
    '6 agent_completed',
    '7 agent_started',
    '8 agent_completed',
    '9 run_failed'
  ], 'refused events take no seq')
})

// every kind of character JSON writes at another width: escapes, 2-, 3- and 4-byte UTF-8, a lone surrogate
const ODD = 'a"\\\n\u0001é€😀\ud800'
const bytes = (e: RunEvent) => Buffer.byteLength(JSON.stringify(e))

t.test('a thought or an answer delta over MAX_EVENT_BYTES goes out as several events of its type, in order, each within the bound', async (t) => {
  const { emitter, calls, published } = await setup()
  await emitter.emit(started())
  const thought = ODD.repeat(20_000)
  const delta = 'ab😀'.repeat(40_000)
  await emitter.emit({ type: 'agent_thinking', data: { agent_id: 'a1', agent_name: 'agent', thought, timestamp: TS } })
  await emitter.emit({ type: 'answer_delta', data: { delta, reset: true, agent_id: 'a1', agent_name: 'agent', timestamp: TS } })
  await emitter.emit(thinking())
  const stored = calls.flatMap((c) => c.events)
  t.strictSame(stored.map((e) => e.seq), stored.map((_, i) => i + 1), 'one seq each')
  t.strictSame(published, stored)
  const thoughts = stored.filter((e) => e.type === 'agent_thinking').map((e) => (e.data as { thought: string }).thought)
  const deltas = stored.filter((e) => e.type === 'answer_delta')
  t.ok(thoughts.length > 3 && deltas.length > 3, `split: ${thoughts.length - 1} thoughts and ${deltas.length} deltas`)
  t.equal(thoughts.slice(0, -1).join(''), thought, 'the pieces make the thought again')
  t.equal(thoughts.at(-1), 'hmm', 'what was emitted next comes after every piece')
  t.equal(deltas.map((e) => (e.data as { delta: string }).delta).join(''), delta)
  t.strictSame(deltas.map((e) => (e.data as { reset?: boolean }).reset), [true, ...Array(deltas.length - 1).fill(undefined)], 'only the first piece starts the answer again')
  t.ok(stored.every((e) => bytes(e) <= MAX_EVENT_BYTES), 'every event within MAX_EVENT_BYTES')
  // room is kept for a seq of 16 digits and for the first delta's `reset`; a character is at most 6 bytes of JSON
  const full = [...stored.filter((e) => e.type === 'agent_thinking').slice(0, -2), ...deltas.slice(0, -1)]
  t.ok(full.every((e) => bytes(e) > MAX_EVENT_BYTES - 15 - 14 - 6), 'every piece but the last of its text is as full as it can be')
})

t.test('splitText never cuts a character, and each piece is within its room as JSON', async (t) => {
  for (const room of [6, 7, 50, 1001]) {
    const text = ODD.repeat(200)
    const pieces = splitText(text, room)
    t.equal(pieces.join(''), text)
    t.ok(pieces.every((p) => p !== '' && Buffer.byteLength(JSON.stringify(p)) - 2 <= room), `room ${room}: every piece fits`)
    t.ok(pieces.every((p) => !/^[\udc00-\udfff]/.test(p) || p.startsWith('\udc00')), `room ${room}: no piece starts inside a pair`)
  }
  t.strictSame(splitText('', 10), [''])
})

t.test('any other event over MAX_EVENT_BYTES is refused at once with event_too_large, and the run goes on as if it was never emitted', async (t) => {
  const { emitter, calls } = await setup()
  await emitter.emit(started())
  await emitter.emit(executing())
  const big = 'x'.repeat(MAX_EVENT_BYTES)
  const tooLarge = (e: EventInput) => {
    try { emitter.emit(e).catch(() => {}) } catch (err) {
      t.ok(err instanceof RunFailure, 'a RunFailure, thrown at once')
      return `${(err as RunFailure).code}: ${(err as Error).message}`
    }
    return 'accepted'
  }
  t.match(tooLarge({ ...progress(), data: { ...progress().data, message: big } } as EventInput), /^event_too_large: tool_progress would be 64\d{3} bytes of JSON; a run event holds at most 64000$/)
  t.match(tooLarge({ ...toolDone(), data: { ...toolDone().data, result: { big } } } as EventInput), /^event_too_large: tool_completed would be/)
  t.match(tooLarge({ ...executing('c2'), data: { ...executing('c2').data, parameters: { big } } } as EventInput), /^event_too_large: tool_executing/)
  await emitter.emit(toolDone())
  t.match(tooLarge({ ...completed(), data: { ...completed().data, result: { big } } } as EventInput), /^event_too_large: agent_completed/)
  await emitter.emit(failed())
  await emitter.emit(runFailed)
  t.strictSame(calls.flatMap((c) => c.events).map((e) => `${e.seq} ${e.type}`), ['1 agent_started', '2 tool_executing', '3 tool_completed', '4 agent_error', '5 run_failed'], 'refused events take no seq and change no state')
})

t.test('open agents and tool calls are listed so an abnormal end can close them', async (t) => {
  const { emitter } = await setup()
  await emitter.emit(started('a1'))
  await emitter.emit(started('a2'))
  await emitter.emit(executing('c1', 'a2'))
  t.strictSame(emitter.openAgents, [{ agent_id: 'a1', attempt: 1, name: 'agent' }, { agent_id: 'a2', attempt: 1, name: 'agent' }])
  t.strictSame(emitter.openTools, [{ tool_call_id: 'c1', agent_id: 'a2', agent_name: 'agent', tool_name: 'echo' }])
  t.equal(emitter.ended, false)
})

t.test('an emitter built from a stored history goes on where it stopped', async (t) => {
  const history = [started('a1'), executing('c1'), started('a2'), completed('a2'), failed('a3')].slice(0, 4).map((e, i) => envelope(i + 1, e))
  const { emitter, calls, published } = await setup({ history })
  t.equal(emitter.seq, 4)
  t.equal(emitter.ended, false)
  t.strictSame(emitter.openAgents, [{ agent_id: 'a1', attempt: 1, name: 'agent' }])
  t.strictSame(emitter.openTools, [{ tool_call_id: 'c1', agent_id: 'a1', agent_name: 'agent', tool_name: 'echo' }])
  t.equal(refused(t, emitter, completed('a1')), 'agent_completed refused: agent a1 has open tool calls')
  t.equal(refused(t, emitter, started('a2')), 'agent_started refused: attempt 1 does not follow 1')
  await emitter.emit(toolDone('c1'))
  await emitter.emit(completed('a1'))
  await emitter.emit(runCompleted)
  t.strictSame(calls.flatMap((c) => c.events), [envelope(5, toolDone('c1')), envelope(6, completed('a1')), envelope(7, runCompleted)])
  t.strictSame(published.map((e) => e.seq), [5, 6, 7], 'the history itself is not stored or published again')

  const ended = await setup({ history: [envelope(1, started()), envelope(2, completed()), envelope(3, runCompleted)] })
  t.equal(ended.emitter.ended, true)
  t.equal(ended.emitter.seq, 3)
  t.equal(refused(t, ended.emitter, runFailed), 'run_failed refused: the run has ended')
})

t.test('a failed append rejects the batch and every later emit; nothing is published', async (t) => {
  const { emitter, calls, nextCall, published } = await setup({ hold: true })
  const first = emitter.emit(started())
  await nextCall()
  const storeDown = new Error('disk full')
  calls[0].done.reject(storeDown)
  await t.rejects(first, storeDown)
  await emitter.settled()
  await t.rejects(emitter.emit(thinking()), storeDown)
  t.equal(calls.length, 1)
  t.strictSame(published, [])
})

t.test('events emitted while a failing append is retried are not written after it fails', async (t) => {
  const { emitter, calls, nextCall, published } = await setup({ hold: true })
  const first = emitter.emit(started())
  await nextCall()
  const queued = emitter.emit(thinking())
  const storeDown = new Error('database or disk is full')
  calls[0].done.reject(storeDown)
  await t.rejects(first, storeDown)
  await t.rejects(queued, storeDown, 'the queued flush fails with the store\'s error, not a fence')
  await emitter.settled()
  t.equal(calls.length, 1, 'nothing more reached the store')
  t.equal(emitter.fenced, false)
  t.strictSame(published, [])
})

t.test('settled waits for everything emitted so far', async (t) => {
  const { emitter, published } = await setup()
  const pending = [emitter.emit(started()), emitter.emit(completed())]
  await emitter.settled()
  t.strictSame(published.map((e) => e.seq), [1, 2])
  await Promise.all(pending)
  await emitter.settled()
  t.pass('settled with nothing pending resolves')
})

t.test('a flush whose publish fails (this process lost the bus) is published again later, once it can be', async (t) => {
  const { store } = fakeStore()
  const bus = createMemoryBus()
  const published: RunEvent[] = []
  await bus.subscribe(runChannel(IDS.run_id), (message) => { for (const json of eventLines(message)) published.push(JSON.parse(json)) })
  const publish = bus.publish.bind(bus)
  let refusals = 1
  bus.publish = async (channel, message) => {
    if (refusals-- > 0) throw new Error('Connection is closed.')
    return publish(channel, message)
  }
  const emitter = new RunEmitter(IDS, { store, bus, log: silentLogger, epoch: 1 })
  await emitter.emit(started())
  t.strictSame(published, [], 'stored, not yet delivered')
  for (let i = 0; i < 200 && published.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25))
  t.strictSame(published, [envelope(1, started())], 'published once the bus takes it')
})
