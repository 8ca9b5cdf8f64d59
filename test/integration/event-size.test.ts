import t from 'tap'
import type { RunEvent } from '../../src/core/events.js'
import { auth } from '../helpers/app.js'
import { assertRunContract } from '../helpers/contract.js'
import { TERMINAL, connected, listen, type Frame, type Server } from '../helpers/ws.js'

const BIG_AGENTS = './test/fixtures/big-agents.mjs'
const FRAME_MAX = 64 * 1024
// escapes, 2-, 3- and 4-byte UTF-8: 24 bytes of JSON each time, about 480 KB in all
const UNIT = 'a"\\\n\u0001é€😀'
const TIMES = 20_000
const TEXT = UNIT.repeat(TIMES)
const TOO_LARGE = /^(tool_completed|tool_executing|tool_progress|agent_completed|run_completed) would be \d+ bytes of JSON; a run event holds at most 64000$/

/** Runs the `big` agent over a WebSocket, with an SSE reader from its acceptance: the size of every frame each got. */
async function bigRun (t: Tap, server: Server, user: string, input: Record<string, unknown>) {
  const client = await connected(t, server.wsUrl, auth(user))
  const wsFrames: number[] = []
  client.ws.on('message', (data: Buffer) => wsFrames.push(data.length))
  client.send({ type: 'message', content: 'big', agent: 'big', input: { unit: UNIT, times: TIMES, ...input } })
  const accepted = await client.waitFor((f) => f.type === 'message_accepted', 'accepted')
  const runId = accepted.data.run_id as string
  const sse = fetch(`${server.url}/runs/${runId}/events`, { headers: { ...auth(user), accept: 'text/event-stream' } }).then((r) => r.text())
  const events = await client.runEnd(runId, 30_000)
  const body = await sse
  const sseBlocks = body.split('\n\n').filter((b) => b.startsWith('id: '))
  // the same run again, replayed from the store
  const again = await connected(t, server.wsUrl, auth(user))
  const replayFrames: number[] = []
  again.ws.on('message', (data: Buffer) => replayFrames.push(data.length))
  again.send({ type: 'subscribe', run_id: runId })
  const replayed = await again.runEnd(runId, 30_000)
  client.terminate()
  again.terminate()
  t.strictSame(replayed, events, 'the replay is the live run')
  t.strictSame(sseBlocks.map((b) => JSON.parse(b.slice(b.indexOf('\ndata: ') + 7))), events, 'the SSE stream is the run')
  t.equal(wsFrames.length, events.length + 1, 'message_accepted, then one frame per event')
  const sizes = [...wsFrames, ...replayFrames, ...sseBlocks.map((b) => Buffer.byteLength(`${b}\n\n`))]
  t.equal(sizes.filter((n) => n > FRAME_MAX).length, 0, `no frame over 64 KiB (the largest: ${Math.max(...sizes)} bytes)`)
  assertRunContract(t, events as unknown as RunEvent[])
  return events
}

interface Tap { teardown (fn: () => unknown): void, strictSame: (...a: any[]) => boolean, equal: (...a: any[]) => boolean, ok: (...a: any[]) => boolean, match: (...a: any[]) => boolean }

/** Consecutive events of one type as one, so a split text reads as the one event it was emitted as. */
const merged = (events: Frame[]) => events.map((e) => e.type).filter((type, i, all) => type !== all[i - 1] || !['agent_thinking', 'answer_delta'].includes(type))
const text = (events: Frame[], type: string, field: string) => events.filter((e) => e.type === type).map((e) => e.data[field] as string)

t.test('a run that emits ~480 KB thoughts and answer, and too large tool events, sends no frame over 64 KiB and completes', async (t) => {
  const server = await listen(t, { AGENT_MODULES: BIG_AGENTS })
  const events = await bigRun(t, server, 'big-ok', {})
  t.strictSame(merged(events), [
    'agent_started', 'agent_thinking', 'answer_delta',
    'tool_executing', 'tool_completed', // the call whose result is too large
    'tool_executing', 'tool_completed', // the call whose progress message is too large
    'agent_completed', 'answer_delta', 'run_completed'
  ])
  const thoughts = text(events, 'agent_thinking', 'thought')
  t.ok(thoughts.length >= 7, `the thought went in ${thoughts.length} events`)
  t.equal(thoughts.join(''), TEXT, 'the pieces of the thought make it again')
  const deltas = events.filter((e) => e.type === 'answer_delta')
  t.equal(deltas.slice(0, -1).map((e) => e.data.delta).join(''), TEXT, 'the streamed pieces make the text again')
  t.strictSame([deltas.at(-1)!.data.delta, deltas.at(-1)!.data.reset], ['done', true], 'then the answer replaces it')
  const [bigResult, progress] = events.filter((e) => e.type === 'tool_completed').map((e) => e.data)
  t.strictSame([bigResult.status, bigResult.error.code], ['error', 'event_too_large'], 'a result too large fails the tool call')
  t.match(bigResult.error.message, TOO_LARGE)
  t.equal(progress.status, 'success')
  t.equal(progress.result.refused, 'event_too_large', 'the tool was told its progress message is too large')
  t.match(progress.result.message, TOO_LARGE)
  t.strictSame(events.at(-1)!.data.result, { answer: 'done', codes: ['event_too_large', 'event_too_large', 'event_too_large'] }, 'the agent got event_too_large from each call')
})

t.test('an agent whose result is too large fails with event_too_large, and so does its run', async (t) => {
  const server = await listen(t, { AGENT_MODULES: BIG_AGENTS })
  const events = await bigRun(t, server, 'big-fail', { big_result: true })
  t.strictSame(merged(events).slice(-2), ['agent_error', 'run_failed'])
  t.equal(text(events, 'answer_delta', 'delta').join(''), TEXT, 'the streamed pieces make the text again')
  const agentError = events.at(-2)!.data
  t.strictSame([agentError.error.code, agentError.retryable], ['event_too_large', false])
  t.match(agentError.error.message, TOO_LARGE)
  t.strictSame(events.at(-1)!.data.error, agentError.error, 'the run fails with the agent\'s error')
  t.ok(TERMINAL.has(events.at(-1)!.type))
})
