import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type WebSocket from 'ws'
import { AgentwireError, RunFailedError, type RunEvent } from '../../client/src/index.js'
import { tokenFor } from '../helpers/app.js'
import { SLOW_AGENTS, listen, range, slowRunTypes, until } from '../helpers/ws.js'
import { collect, makeClient, recordingWebSocket, seeded, serverSocketOf, stored } from './helpers.js'

const DROPS = ['client terminates', 'server terminates (1006)', 'server shutting down (1001)', 'too slow (4008)'] as const

t.test('100 runs, sockets dropped at seeded random points: each caller sees exactly the stored events', async (t) => {
  const server = await listen(t, {
    AGENT_MODULES: SLOW_AGENTS,
    RATE_LIMIT_PER_MIN: '100000',
    RATE_LIMIT_BURST: '100000',
    MAX_RUNS_PER_USER: '100',
    MAX_QUEUED_PER_USER: '1000'
  })
  const random = seeded(20260911)
  const USERS = 5
  const RUNS_PER_USER = 20
  const drops = new Map<string, number>(DROPS.map((d) => [d, 0]))

  const dropped = new WeakSet<WebSocket>()
  /** Drops a client socket one of the four ways, as one of its frames arrives. */
  const drop = (socket: WebSocket, how: typeof DROPS[number]) => {
    const peer = serverSocketOf(server.app, socket)
    if (how === 'client terminates' || !peer) socket.terminate()
    else if (how === 'server terminates (1006)') peer.terminate()
    else if (how === 'server shutting down (1001)') peer.close(1001, 'server shutting down')
    else peer.close(4008, 'too slow')
    drops.set(how, drops.get(how)! + 1)
  }

  // each user's socket is dropped after a seeded 2 to 13 run events it receives (replays count too), the
  // four ways in turn
  const dropsOf = new Array<number>(USERS).fill(0)
  const users = Array.from({ length: USERS }, (_, u) => {
    let received = 0
    let nth = u
    let next = 2 + Math.floor(random() * 12)
    const ws = recordingWebSocket((socket, data) => {
      // frames still arriving on a socket being closed do not count
      if (dropped.has(socket) || !data.includes('"seq":') || ++received < next) return
      dropped.add(socket)
      received = 0
      next = 2 + Math.floor(random() * 12)
      dropsOf[u]++
      drop(socket, DROPS[nth++ % DROPS.length])
    })
    const { client, statuses } = makeClient(t, { url: server.url, token: tokenFor(`dropper${u}`), WebSocket: ws.Recording, random: seeded(u + 1) })
    return { user: `dropper${u}`, client, statuses }
  })

  const plans = users.flatMap((_, u) => range(1, RUNS_PER_USER).map(() => ({
    u, steps: 1 + Math.floor(random() * 4), ms: 20 + Math.floor(random() * 60), startAfterMs: Math.floor(random() * 2000)
  })))
  const results = await Promise.all(plans.map(async (plan, i) => {
    await sleep(plan.startAfterMs)
    const run = await users[plan.u].client.send(`run ${i}`, { agent: 'slow', input: { steps: plan.steps, ms: plan.ms } })
    const seen = await collect(run.events())
    return { plan, run, seen, result: await run.result() }
  }))

  let total = 0
  for (const { plan, run, seen, result } of results) {
    const all = await stored(server.app, users[plan.u].user, run.id)
    total += all.length
    t.strictSame(seen, all, `run of user ${plan.u}, ${plan.steps} steps: ${all.length} events, each once, in order`)
    t.strictSame(seen.map((e) => e.type).filter((type) => type !== 'run_queued'), slowRunTypes(plan.steps))
    t.strictSame(result, { answer: `waited ${plan.steps} times`, steps: plan.steps })
  }
  t.equal(results.length, 100)
  const dropCount = [...drops.values()].reduce((a, b) => a + b, 0)
  const reconnects = users.reduce((n, { statuses }) => n + statuses.filter((s) => s.state === 'connected' && s.reason === 'reconnect').length, 0)
  t.comment(`${total} events, ${dropCount} sockets dropped ${JSON.stringify(Object.fromEntries(drops))}, ${reconnects} reconnects`)
  // how many drops a user gets depends on timing (replays count); that every user gets one does not
  t.ok(dropsOf.every((n) => n >= 1), `every user's socket was dropped (${dropsOf.join(', ')})`)
  for (const how of DROPS) t.ok(drops.get(how)! > 0, `dropped by "${how}" at least once`)
})

t.test('a run followed from after_seq gets exactly the events after it, across a drop', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const ws = recordingWebSocket()
  const { client } = makeClient(t, { url: server.url, token: tokenFor('late'), WebSocket: ws.Recording })
  const first = await client.send('go', { agent: 'slow', input: { steps: 4, ms: 40 } })
  const seen = await collect(first.events())
  const n = slowRunTypes(4).length
  t.equal(seen.length, n)

  const again = await client.run(first.id, { after_seq: 7 })
  t.equal(again.thread_id, first.thread_id)
  t.strictSame(await collect(again.events()), seen.slice(7))

  const live = await client.send('again', { agent: 'slow', input: { steps: 3, ms: 60 }, thread_id: first.thread_id })
  const partial: RunEvent[] = []
  for await (const e of live.events()) {
    partial.push(e)
    if (e.seq === 4) break
  }
  const follower = await client.run(live.id, { after_seq: 4 })
  ws.current().at(-1)!.terminate()
  t.strictSame([...partial, ...await collect(follower.events())], await stored(server.app, 'late', live.id))
})

t.test('a thread follow: the active run from seq 1 and each later run, including one that ran while the socket was down', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const ws = recordingWebSocket()
  const { client, statuses } = makeClient(t, { url: server.url, token: tokenFor('threads'), WebSocket: ws.Recording })
  const done = await client.send('before', { agent: 'slow', input: { steps: 1, ms: 0 } })
  await done.result()
  const active = await client.send('active', { agent: 'slow', input: { steps: 2, ms: 50 }, thread_id: done.thread_id, multitask: 'enqueue' })
  const follow = await client.followThread(done.thread_id)

  const got: RunEvent[] = []
  const iterate = (async () => { for await (const e of follow) got.push(e) })()
  await active.result()
  // the socket goes down; a run starts and ends before the client can reconnect
  ws.block(true)
  ws.current().at(-1)!.terminate()
  const missed = await client.http.postMessage({ content: 'while down', agent: 'slow', input: { steps: 1, ms: 0 }, thread_id: done.thread_id, multitask: 'enqueue' })
  await until(async () => (await stored(server.app, 'threads', missed.run_id)).at(-1)?.type === 'run_completed' || undefined, 'the missed run to end')
  await until(async () => statuses.some((s) => s.state === 'reconnecting' && s.attempt >= 2) || undefined, 'a failed reconnect')
  ws.block(false)
  const later = await client.send('later', { agent: 'slow', input: { steps: 1, ms: 0 }, thread_id: done.thread_id, multitask: 'enqueue' })
  await later.result()
  const byRun = (id: string) => got.filter((e) => e.run_id === id)
  await until(async () => (byRun(later.id).at(-1)?.type === 'run_completed' && byRun(missed.run_id).at(-1)?.type === 'run_completed') || undefined, 'both later runs in the follow')
  follow.stop()
  await iterate

  t.strictSame(byRun(done.id), [], 'a run that ended before the follow is not delivered')
  t.strictSame(byRun(active.id), await stored(server.app, 'threads', active.id))
  t.strictSame(byRun(missed.run_id), await stored(server.app, 'threads', missed.run_id))
  t.strictSame(byRun(later.id), await stored(server.app, 'threads', later.id))
  t.equal(got.length, byRun(active.id).length + byRun(missed.run_id).length + byRun(later.id).length)
})

t.test('cancel: the run ends run_cancelled and result() rejects with RunCancelledError; a failure with RunFailedError', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const { client } = makeClient(t, { url: server.url, token: tokenFor('canceller') })
  const run = await client.send('stop me', { agent: 'slow', input: { steps: 20, ms: 200 } })
  for await (const e of run.events()) if (e.type === 'tool_executing') break
  const answer = await run.cancel()
  t.equal(answer.run_id, run.id)
  const events = await collect(run.events())
  t.equal(events.at(-1)!.type, 'run_cancelled')
  const err = await run.result().catch((e: unknown) => e) as AgentwireError
  t.equal(err.name, 'RunCancelledError')
  t.equal(err.code, 'cancelled')
  t.strictSame(events, await stored(server.app, 'canceller', run.id))

  const bad = await client.send('bad input', { agent: 'slow', input: { steps: 1, ms: 0, pad: -1 } }).catch((e: unknown) => e) as AgentwireError
  t.ok(bad instanceof AgentwireError)
  t.equal(bad.code, 'invalid_request')
  t.equal(bad.status, 400)

  const timeoutServer = await listen(t, { AGENT_MODULES: SLOW_AGENTS, AGENT_TIMEOUT_MS: '50' })
  const { client: other } = makeClient(t, { url: timeoutServer.url, token: tokenFor('failer') })
  const failing = await other.send('too slow', { agent: 'slow', input: { steps: 1, ms: 2000 } })
  const failure = await failing.result().catch((e: unknown) => e) as RunFailedError
  t.ok(failure instanceof RunFailedError)
  t.equal(failure.code, failure.event.data.error.code)
  t.equal(failure.runId, failing.id)
})
