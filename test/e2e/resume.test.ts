import t from 'tap'
import { auth } from '../helpers/app.js'
import { SLOW_AGENTS, TERMINAL, connected, listen, range, seqs, slowRunTypes, types, until, type Frame, type Server } from '../helpers/ws.js'

interface Accepted { message_id: string, thread_id: string, run_id: string }

async function runStatus (server: Server, user: string, runId: string): Promise<string> {
  return (await server.app.inject({ url: `/runs/${runId}`, headers: auth(user) })).json().status
}

async function storedEvents (server: Server, user: string, runId: string): Promise<Frame[]> {
  return (await server.app.inject({ url: `/runs/${runId}/events`, headers: auth(user) })).json().events
}

/** Polls until the run's row says it has ended: the thread takes a new run only after that. */
function finished (server: Server, user: string, runId: string) {
  return until(async () => {
    const status = await runStatus(server, user, runId)
    return ['completed', 'failed', 'cancelled'].includes(status) ? status : undefined
  }, `run ${runId} to finish`)
}

t.test('a socket dropped mid-run, and a new one resuming with after_seq: together exactly 1..N', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const first = await connected(t, server.wsUrl, auth('roam'))
  first.send({ type: 'message', content: 'long one', agent: 'slow', input: { steps: 6, ms: 100 } })
  const { run_id: runId } = (await first.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  await first.waitFor((f) => f.run_id === runId && f.seq! >= 4, 'four events')
  first.terminate()
  await first.closed

  const before = first.events(runId)
  const k = before.at(-1)!.seq!
  t.strictSame(seqs(before), range(1, k), 'the dropped socket saw 1..k')
  t.notOk(before.some((e) => TERMINAL.has(e.type)), 'it was dropped mid-run')

  const second = await connected(t, server.wsUrl, auth('roam'))
  second.send({ type: 'subscribe', id: 'resume', run_id: runId, after_seq: k })
  const subscribed = await second.waitFor((f) => f.reply_to === 'resume', 'subscribed')
  t.strictSame(subscribed, { type: 'subscribed', reply_to: 'resume', run_id: runId, last_seq: subscribed.last_seq, recovered: true })
  const after = await second.runEnd(runId)
  t.ok(second.frames.indexOf(subscribed) < second.frames.indexOf(after[0]), 'subscribed comes before the events')

  const n = slowRunTypes(6).length
  const lastSeq = subscribed.last_seq as number
  t.ok(lastSeq >= k && lastSeq < n, `subscribed while the run was live (k=${k}, last_seq=${lastSeq})`)
  t.strictSame(seqs(after), range(k + 1, n), 'the new socket got k+1..N')
  const union = [...before, ...after]
  t.strictSame(seqs(union), range(1, n), 'no gap, no duplicate')
  t.strictSame(types(union), slowRunTypes(6))
  t.strictSame(union, await storedEvents(server, 'roam', runId))
  t.equal(await finished(server, 'roam', runId), 'completed', 'the dropped socket did not cancel the run')
})

t.test('subscribers joining at every point of a live run each get exactly seq > after_seq', async (t) => {
  // one user with a socket per point of the run: more than the default per-user cap
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS, WS_MAX_SOCKETS_PER_USER: '100' })
  const poster = await connected(t, server.wsUrl, auth('many'))
  poster.send({ type: 'message', content: 'watch me', agent: 'slow', input: { steps: 8, ms: 40 } })
  const { run_id: runId } = (await poster.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  const n = slowRunTypes(8).length

  // each joins once the poster has seen event j, asking from wherever it likes up to j
  const joins = await Promise.all(range(1, n - 1).map(async (j) => {
    await poster.waitFor((f) => f.run_id === runId && f.seq === j, `event ${j}`)
    const afterSeq = [0, j - 1, j, Math.floor(j / 2)][j % 4]
    const client = await connected(t, server.wsUrl, auth('many'))
    client.send({ type: 'subscribe', id: 'join', run_id: runId, after_seq: afterSeq })
    return { client, afterSeq }
  }))
  const all = await poster.runEnd(runId)
  t.strictSame(seqs(all), range(1, n))
  for (const { client, afterSeq } of joins) {
    const events = await client.runEnd(runId)
    t.strictSame(events, all.slice(afterSeq), `after_seq=${afterSeq}: exactly ${afterSeq + 1}..${n}`)
  }
})

t.test('after the run ended: subscribed with last_seq = N, then 1..N; from N, nothing more', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const poster = await connected(t, server.wsUrl, auth('late'))
  poster.send({ type: 'message', content: 'quick', agent: 'slow', input: { steps: 2, ms: 10 } })
  const { run_id: runId } = (await poster.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  const all = await poster.runEnd(runId)
  const n = all.length
  t.equal(n, 13)
  await finished(server, 'late', runId)

  const late = await connected(t, server.wsUrl, auth('late'))
  late.send({ type: 'subscribe', id: 'all', run_id: runId })
  t.strictSame(await late.waitFor((f) => f.reply_to === 'all', 'subscribed'), { type: 'subscribed', reply_to: 'all', run_id: runId, last_seq: n, recovered: true })
  t.strictSame(await late.runEnd(runId), all)
  t.strictSame(late.frames.slice(1).map((f) => f.type), ['subscribed', ...slowRunTypes(2)], 'subscribed, then every event')

  const partial = await connected(t, server.wsUrl, auth('late'))
  partial.send({ type: 'subscribe', id: 'some', run_id: runId, after_seq: 10 })
  t.strictSame(await partial.waitFor((f) => f.reply_to === 'some', 'subscribed'), { type: 'subscribed', reply_to: 'some', run_id: runId, last_seq: n, recovered: true })
  t.strictSame(await partial.runEnd(runId), all.slice(10))

  const caughtUp = await connected(t, server.wsUrl, auth('late'))
  caughtUp.send({ type: 'subscribe', id: 'none', run_id: runId, after_seq: n })
  t.strictSame(await caughtUp.waitFor((f) => f.reply_to === 'none', 'subscribed'), { type: 'subscribed', reply_to: 'none', run_id: runId, last_seq: n, recovered: true })
  await caughtUp.barrier()
  t.strictSame(caughtUp.frames.map((f) => f.type), ['connection_established', 'subscribed', 'pong'], 'nothing more')

  // subscribing again on the same socket replays again, from the new after_seq
  const from = late.frames.length
  late.send({ type: 'subscribe', id: 'again', run_id: runId, after_seq: 11 })
  await late.waitFor((f) => f.run_id === runId && f.seq === n, 'the replayed end', { from })
  await late.barrier()
  t.strictSame(late.frames.slice(from).map((f) => f.seq === undefined ? f.type : `${f.type}#${f.seq}`),
    ['subscribed', 'agent_completed#12', 'run_completed#13', 'pong'])
})

t.test('a dropped socket never cancels its run', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const client = await connected(t, server.wsUrl, auth('leaver'))
  client.send({ type: 'message', content: 'bye', agent: 'slow', input: { steps: 3, ms: 60 } })
  const accepted = (await client.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  client.terminate()
  await client.closed
  t.equal(await runStatus(server, 'leaver', accepted.run_id), 'running')

  t.equal(await finished(server, 'leaver', accepted.run_id), 'completed')
  const events = await storedEvents(server, 'leaver', accepted.run_id)
  t.strictSame(types(events), slowRunTypes(3))
  t.strictSame(seqs(events), range(1, 18))
  const messages = (await server.app.inject({ url: `/threads/${accepted.thread_id}/messages`, headers: auth('leaver') })).json().messages
  t.strictSame(messages.map((m: { role: string, content: string }) => [m.role, m.content]), [['user', 'bye'], ['assistant', 'waited 3 times']])
})

t.test('a thread subscription: the active run from seq 1, then every later run; unsubscribe stops the later ones', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const post = async (body: Record<string, unknown>) => {
    const res = await server.app.inject({ method: 'POST', url: '/messages', headers: auth('threader'), payload: { agent: 'slow', ...body } })
    t.equal(res.statusCode, 202)
    return res.json() as Accepted
  }
  const r1 = await post({ content: 'first', input: { steps: 4, ms: 100 } })
  const threadId = r1.thread_id
  await until(async () => (await storedEvents(server, 'threader', r1.run_id)).length >= 3 || undefined, 'three stored events of the first run')

  const watcher = await connected(t, server.wsUrl, auth('threader'))
  watcher.send({ type: 'subscribe', id: 'thread', thread_id: threadId })
  t.strictSame(await watcher.waitFor((f) => f.reply_to === 'thread', 'subscribed'), { type: 'subscribed', reply_to: 'thread', thread_id: threadId })
  const first = await watcher.runEnd(r1.run_id)
  t.strictSame(types(first), slowRunTypes(4), 'the active run from seq 1')
  t.strictSame(seqs(first), range(1, 23))
  t.equal(watcher.frames[1].type, 'subscribed', 'subscribed comes first')
  t.strictSame(first, await storedEvents(server, 'threader', r1.run_id))

  await finished(server, 'threader', r1.run_id)
  const r2 = await post({ content: 'second', thread_id: threadId, input: { steps: 2, ms: 20 } })
  const second = await watcher.runEnd(r2.run_id)
  t.strictSame(types(second), slowRunTypes(2), 'a later run on the thread, from seq 1')
  t.strictSame(seqs(second), range(1, 13))
  t.strictSame(second.map((e) => e.thread_id), second.map(() => threadId))

  watcher.send({ type: 'subscribe', id: 'twice', thread_id: threadId })
  t.strictSame(await watcher.waitFor((f) => f.reply_to === 'twice', 'subscribed again'), { type: 'subscribed', reply_to: 'twice', thread_id: threadId })
  await finished(server, 'threader', r2.run_id)
  const r3 = await post({ content: 'third', thread_id: threadId, input: { steps: 1, ms: 10 } })
  t.strictSame(seqs(await watcher.runEnd(r3.run_id)), range(1, 8), 'subscribing twice does not double the events')

  watcher.send({ type: 'unsubscribe', id: 'stop', thread_id: threadId })
  t.strictSame(await watcher.waitFor((f) => f.reply_to === 'stop', 'unsubscribed'), { type: 'unsubscribed', reply_to: 'stop', thread_id: threadId })
  await finished(server, 'threader', r3.run_id)
  const r4 = await post({ content: 'fourth', thread_id: threadId, input: { steps: 1, ms: 10 } })
  t.equal(await finished(server, 'threader', r4.run_id), 'completed')
  await watcher.barrier()
  t.strictSame(watcher.events(r4.run_id), [], 'no events of a run started after unsubscribe')
})

t.test('unsubscribing from a live run stops its events at once', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const client = await connected(t, server.wsUrl, auth('quitter'))
  client.send({ type: 'message', content: 'enough', agent: 'slow', input: { steps: 4, ms: 80 } })
  const { run_id: runId } = (await client.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  await client.waitFor((f) => f.run_id === runId && f.seq === 3, 'event 3')
  client.send({ type: 'unsubscribe', id: 'u', run_id: runId })
  const unsubscribed = await client.waitFor((f) => f.reply_to === 'u', 'unsubscribed')
  t.strictSame(unsubscribed, { type: 'unsubscribed', reply_to: 'u', run_id: runId })
  t.equal(await finished(server, 'quitter', runId), 'completed')
  await client.barrier()
  const afterwards = client.frames.slice(client.frames.indexOf(unsubscribed) + 1)
  t.strictSame(afterwards.map((f) => f.type), ['pong'], 'nothing of the run after unsubscribed')
  t.notOk(client.events(runId).some((e) => TERMINAL.has(e.type)))
})

t.test('overlapping subscribes of one run on one socket: every event once after the last subscribed, and unsubscribe stops it all', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const poster = await connected(t, server.wsUrl, auth('eager'))
  const client = await connected(t, server.wsUrl, auth('eager'))
  poster.send({ type: 'message', content: 'twice', agent: 'slow', input: { steps: 5, ms: 80 } })
  const { run_id: runId } = (await poster.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  await poster.waitFor((f) => f.run_id === runId && f.seq === 2, 'event 2')

  // both frames are handled while the first follow still replays
  client.send({ type: 'subscribe', id: 1, run_id: runId })
  client.send({ type: 'subscribe', id: 2, run_id: runId })
  const second = await client.waitFor((f) => f.reply_to === 2, 'the second subscribed')
  t.strictSame(second, { type: 'subscribed', reply_to: 2, run_id: runId, last_seq: second.last_seq, recovered: true })
  await client.waitFor((f) => f.reply_to === 1, 'the first subscribed')
  await client.waitFor((f) => f.run_id === runId && f.seq === 12, 'event 12', { from: client.frames.indexOf(second) })
  client.send({ type: 'unsubscribe', id: 3, run_id: runId })
  const unsubscribed = await client.waitFor((f) => f.reply_to === 3, 'unsubscribed')

  const n = slowRunTypes(5).length
  t.strictSame(seqs(await poster.runEnd(runId)), range(1, n))
  await client.barrier()
  const between = client.frames.slice(client.frames.indexOf(second) + 1, client.frames.indexOf(unsubscribed)).filter((f) => f.seq !== undefined)
  const k = between.at(-1)!.seq!
  t.strictSame(seqs(between), range(1, k), 'after the second subscribed: 1..k once each')
  t.strictSame(client.frames.slice(client.frames.indexOf(unsubscribed) + 1).map((f) => f.type), ['pong'], 'nothing after unsubscribed')
})

t.test('overlapping thread subscribes on one socket: one watch, and unsubscribe ends it', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const poster = await connected(t, server.wsUrl, auth('eager'))
  const client = await connected(t, server.wsUrl, auth('eager'))
  poster.send({ type: 'message', id: 'a', content: 'one', agent: 'slow', input: { steps: 1, ms: 10 } })
  const first = (await poster.waitFor((f) => f.reply_to === 'a', 'accepted')).data as Accepted
  await finished(server, 'eager', first.run_id)

  client.send({ type: 'subscribe', id: 1, thread_id: first.thread_id })
  client.send({ type: 'subscribe', id: 2, thread_id: first.thread_id })
  client.send({ type: 'subscribe', id: 3, thread_id: 'not-a-thread' })
  client.send({ type: 'subscribe', id: 4, thread_id: 'not-a-thread' })
  t.strictSame(await client.waitFor((f) => f.reply_to === 1, 'subscribed 1'), { type: 'subscribed', reply_to: 1, thread_id: first.thread_id })
  t.strictSame(await client.waitFor((f) => f.reply_to === 2, 'subscribed 2'), { type: 'subscribed', reply_to: 2, thread_id: first.thread_id })
  t.strictSame(await client.waitFor((f) => f.reply_to === 3, 'reply 3'), { type: 'error', reply_to: 3, data: { code: 'not_found', message: 'thread not found' } })
  t.strictSame(await client.waitFor((f) => f.reply_to === 4, 'reply 4'), { type: 'error', reply_to: 4, data: { code: 'not_found', message: 'thread not found' } })

  poster.send({ type: 'message', id: 'b', content: 'two', agent: 'slow', thread_id: first.thread_id, input: { steps: 1, ms: 10 } })
  const second = (await poster.waitFor((f) => f.reply_to === 'b', 'accepted')).data as Accepted
  t.strictSame(seqs(await client.runEnd(second.run_id)), range(1, 8), 'a later run, once')
  await finished(server, 'eager', second.run_id)

  // subscribe and unsubscribe back to back: subscribed, then unsubscribed, and no watch is left
  client.send({ type: 'unsubscribe', id: 5, thread_id: first.thread_id })
  client.send({ type: 'subscribe', id: 6, thread_id: first.thread_id })
  client.send({ type: 'unsubscribe', id: 7, thread_id: first.thread_id })
  await client.waitFor((f) => f.reply_to === 7, 'unsubscribed 7')
  const replies = [5, 6, 7].map((id) => client.frames.findIndex((f) => f.reply_to === id))
  t.strictSame(replies.map((i) => client.frames[i].type), ['unsubscribed', 'subscribed', 'unsubscribed'])
  t.ok(replies[1] < replies[2], 'the subscribe under way answers before the unsubscribe that undoes it')

  poster.send({ type: 'message', id: 'c', content: 'three', agent: 'slow', thread_id: first.thread_id, input: { steps: 1, ms: 10 } })
  const third = (await poster.waitFor((f) => f.reply_to === 'c', 'accepted')).data as Accepted
  await poster.runEnd(third.run_id)
  await client.barrier()
  t.strictSame(client.events(third.run_id), [], 'no events of a run started after the last unsubscribe')
})

t.test('a client too far behind is closed with 4008 and resumes with after_seq', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS, WS_MAX_BUFFERED_BYTES: '1024', STALL_TIMEOUT_MS: '500' })
  const poster = await connected(t, server.wsUrl, auth('laggard'))
  // 25 MB of thoughts: more than the kernel buffers of a loopback connection can hold
  poster.send({ type: 'message', content: 'big', agent: 'slow', input: { steps: 50, ms: 0, pad: 500_000 } })
  const { run_id: runId } = (await poster.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  const all = await poster.runEnd(runId, 60_000)
  const n = all.length
  // each 500 KB thought goes in pieces of at most 64 KiB: runs of agent_thinking, which make the thoughts again
  t.strictSame(types(all).filter((type, i, ts) => type !== 'agent_thinking' || ts[i - 1] !== type), slowRunTypes(50))
  const thoughts = all.filter((e) => e.type === 'agent_thinking').map((e) => e.data.thought as string)
  t.equal(thoughts.join(''), range(1, 50).map((i) => `step ${i} of 50 ${'.'.repeat(500_000)}`).join(''))
  t.ok(n > slowRunTypes(50).length + 300, `${n} events`)
  poster.close()
  await poster.closed

  const slow = await connected(t, server.wsUrl, auth('laggard'))
  slow.ws.pause()
  slow.send({ type: 'subscribe', run_id: runId })
  const open = () => [...server.app.websocketServer.clients].filter((s) => s.readyState === s.OPEN).length
  await until(async () => open() === 0 || undefined, 'the server to give up on the paused client')
  slow.ws.resume()
  t.strictSame(await slow.closed, { code: 4008, reason: 'too slow' })
  const got = slow.events(runId)
  const k = got.at(-1)!.seq!
  t.ok(k < n, `closed before the end (k=${k} of ${n})`)
  t.strictSame(seqs(got), range(1, k), 'what arrived is 1..k, in order')

  // a replay this big can outrun the socket again: each reconnect still moves forward
  const received = [...got]
  for (let attempt = 1; received.at(-1)!.seq! < n; attempt++) {
    if (attempt > 20) throw new Error(`no end after 20 reconnects: at ${received.at(-1)!.seq} of ${n}`)
    const again = await connected(t, server.wsUrl, auth('laggard'))
    again.send({ type: 'subscribe', run_id: runId, after_seq: received.at(-1)!.seq })
    const { code } = await Promise.race([again.runEnd(runId, 60_000).then(() => ({ code: 0 })), again.closed])
    t.ok(code === 0 || code === 4008, `reconnect ${attempt}: the end, or 4008 again (${code})`)
    received.push(...again.events(runId))
    again.terminate()
  }
  t.strictSame(seqs(received), range(1, n), 'resumed: 1..N exactly once')
  t.strictSame(received, all)
})
