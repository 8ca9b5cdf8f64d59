import t, { type Test } from 'tap'
import { AgentwireError, type AgentwireClient, type Run, type RunEvent } from '../../client/src/index.js'
import { auth, tokenFor } from '../helpers/app.js'
import { listen, until, type Server } from '../helpers/ws.js'
import { collect, makeClient, recordingWebSocket, stored } from './helpers.js'

const HITL = { AGENT_MODULES: './test/fixtures/hitl-agents.mjs' }
const USER = 'responder'

/** A run, its events collected as they come, and its `input_requested` once it is there. */
async function started (client: AgentwireClient, agent: string, input: Record<string, unknown>) {
  const run = await client.send('go', { agent, input })
  let asked!: (e: RunEvent) => void
  const request = new Promise<RunEvent>((resolve) => { asked = resolve })
  const seen = collect(run.events(), (e) => { if (e.type === 'input_requested') asked(e) })
  const e = await request
  return { run, seen, interruptId: (e.data as { interrupt_id: string }).interrupt_id, request: e }
}

const status = async (server: Server, runId: string, user = USER) =>
  (await server.app.inject({ url: `/runs/${runId}`, headers: auth(user) })).json().status as string

/** The closing input_received of the run, as stored. */
async function received (server: Server, run: Run) {
  return (await stored(server.app, USER, run.id)).find((e) => e.type === 'input_received')!.data as unknown as Record<string, unknown>
}

async function sameAsStored (t: Test, server: Server, run: Run, seen: Promise<RunEvent[]>) {
  t.strictSame(await seen, await stored(server.app, USER, run.id), 'the client saw exactly the stored events')
}

t.test('respond(): approve, reject, edit, answer', async (t) => {
  const server = await listen(t, HITL)
  const { client } = makeClient(t, { url: server.url, token: tokenFor(USER) })
  const pay = { args: { to: 'bob', amount: 500 } }

  await t.test('approve', async (t) => {
    const { run, seen, interruptId, request } = await started(client, 'payer', pay)
    t.match(request.data, { kind: 'approval', tool_name: 'transfer', arguments: { to: 'bob', amount: 500 } })
    t.strictSame(await run.respond(interruptId, { decision: 'approve' }), { run_id: run.id, interrupt_id: interruptId })
    t.strictSame(await run.result(), { answer: 'Paying… sent 500 to bob.', result: { sent: 500, to: 'bob' } })
    t.match(await received(server, run), { interrupt_id: interruptId, by: 'user', decision: 'approve' })
    t.equal(run.answerSoFar, 'Paying… sent 500 to bob.')
    await sameAsStored(t, server, run, seen)
  })

  await t.test('reject, with a reason', async (t) => {
    const { run, seen, interruptId } = await started(client, 'payer', pay)
    await run.respond(interruptId, { decision: 'reject', reason: 'not today' })
    t.strictSame(await run.result(), { answer: 'Paying… not sent: the call was rejected: not today', rejected: 'rejected' })
    t.match(await received(server, run), { by: 'user', decision: 'reject', reason: 'not today' })
    const completed = (await stored(server.app, USER, run.id)).find((e) => e.type === 'tool_completed')!
    t.match(completed.data, { status: 'error', error: { code: 'rejected' } }, 'the call did not run')
    await sameAsStored(t, server, run, seen)
  })

  await t.test('approve with edited arguments', async (t) => {
    const { run, seen, interruptId } = await started(client, 'payer', pay)
    await run.respond(interruptId, { decision: 'approve', arguments: { to: 'carol', amount: 150 } })
    t.strictSame(await run.result(), { answer: 'Paying… sent 150 to carol.', result: { sent: 150, to: 'carol' } })
    t.match(await received(server, run), { decision: 'approve', arguments: { to: 'carol', amount: 150 } })
    const executing = (await stored(server.app, USER, run.id)).find((e) => e.type === 'tool_executing')!
    t.strictSame((executing.data as { parameters: unknown }).parameters, { to: 'carol', amount: 150 }, 'the call ran with the edited arguments')
    await sameAsStored(t, server, run, seen)
  })

  await t.test('answer a question', async (t) => {
    const { run, seen, interruptId, request } = await started(client, 'asker', {})
    t.match(request.data, { kind: 'question', question: 'How many?', schema: { type: 'integer', minimum: 1 } })
    await run.respond(interruptId, { answer: 4 })
    t.strictSame(await run.result(), { answer: '## Count\n\nAsking you. You said 4.\n\nDone.', n: 4 })
    t.match(await received(server, run), { by: 'user', answer: 4 })
    await sameAsStored(t, server, run, seen)
  })
})

t.test('respond(): a bad answer is a typed error and the run keeps waiting; a second answer is interrupt_closed', async (t) => {
  const server = await listen(t, HITL)
  const { client } = makeClient(t, { url: server.url, token: tokenFor(USER) })
  const { run, seen, interruptId } = await started(client, 'asker', {})

  const bad = async (answer: Parameters<Run['respond']>[1], message: string) => {
    const err = await run.respond(interruptId, answer).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof AgentwireError, 'an AgentwireError')
    t.match(err, { code: 'invalid_request', status: 400, message })
  }
  await bad({ answer: 0 }, 'answer must be >= 1')
  await bad({ answer: 'three' }, 'answer must be integer')
  await bad({ decision: 'approve' }, 'a question is answered with an answer')
  t.equal(await status(server, run.id), 'waiting', 'still waiting')
  t.notOk((await stored(server.app, USER, run.id)).some((e) => e.type === 'input_received'), 'nothing answered')

  await run.respond(interruptId, { answer: 2 })
  const late = await run.respond(interruptId, { answer: 5 }).then(() => undefined, (e: unknown) => e)
  t.match(late, { code: 'interrupt_closed', status: 409 })
  t.match(await run.result(), { n: 2 }, 'the first answer won')
  await sameAsStored(t, server, run, seen)
})

t.test('respond() to another user\'s run is refused as not_found', async (t) => {
  const server = await listen(t, HITL)
  const { client } = makeClient(t, { url: server.url, token: tokenFor(USER) })
  const { client: mallory } = makeClient(t, { url: server.url, token: tokenFor('mallory') })
  const { run, interruptId } = await started(client, 'payer', { args: { to: 'bob', amount: 500 } })

  await t.rejects(mallory.run(run.id), { code: 'not_found', status: 404 }, 'not even followed')
  await t.rejects(mallory.resume(run.id, { interrupt_id: interruptId, decision: 'approve' }), { code: 'not_found', status: 404 }, 'nor answered')
  t.equal(await status(server, run.id), 'waiting', 'the run still waits for its owner')
  await run.respond(interruptId, { decision: 'reject' })
  t.match(await run.result(), { rejected: 'rejected' })
})

t.test('respond() after a reconnect: the run goes on and the client sees every event once', async (t) => {
  const server = await listen(t, HITL)
  const ws = recordingWebSocket()
  const { client, statuses } = makeClient(t, { url: server.url, token: tokenFor(USER), WebSocket: ws.Recording })
  const { run, seen, interruptId } = await started(client, 'payer', { args: { to: 'bob', amount: 500 } })

  for (const socket of ws.current()) socket.terminate()
  await until(async () => statuses.some((s) => s.state === 'connected' && s.reason === 'reconnect') || undefined, 'a reconnect')
  await run.respond(interruptId, { decision: 'approve' })
  t.strictSame(await run.result(), { answer: 'Paying… sent 500 to bob.', result: { sent: 500, to: 'bob' } })
  t.ok(ws.sockets.length >= 2, 'a second socket')
  await sameAsStored(t, server, run, seen)
})
