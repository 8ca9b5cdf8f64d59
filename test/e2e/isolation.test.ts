import t from 'tap'
import { auth } from '../helpers/app.js'
import { SLOW_AGENTS, TERMINAL, connected, listen, range, seqs, slowRunTypes, types, until, type Client, type Frame } from '../helpers/ws.js'

const USERS = Array.from({ length: 10 }, (_, i) => `iso-user-${String(i).padStart(2, '0')}`)
const RUNS_PER_USER = 3
const STEPS = 4

interface Accepted { message_id: string, thread_id: string, run_id: string }

t.test('10 users × 3 runs at once: each socket gets all of its own events and nothing else', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const clients = await Promise.all(USERS.map((user) => connected(t, wsUrl, auth(user))))

  // every user sends its three messages before any run can end
  for (const [i, client] of clients.entries()) {
    for (let r = 0; r < RUNS_PER_USER; r++) {
      client.send({ type: 'message', id: `m${r}`, content: `${USERS[i]} run ${r}`, agent: 'slow', input: { steps: STEPS, ms: 120 } })
    }
  }
  const accepted: Accepted[][] = await Promise.all(clients.map((client) => Promise.all(range(0, RUNS_PER_USER - 1).map(async (r) =>
    (await client.waitFor((f) => f.type === 'message_accepted' && f.reply_to === `m${r}`, `message_accepted m${r}`)).data as Accepted))))

  // while the runs are live, every user tries another user's run and thread
  const next = (i: number) => (i + 1) % USERS.length
  await Promise.all(clients.map(async (client, i) => {
    const theirs = accepted[next(i)][0]
    client.send({ type: 'subscribe', id: 'steal-run', run_id: theirs.run_id })
    client.send({ type: 'subscribe', id: 'steal-run-resume', run_id: theirs.run_id, after_seq: 2 })
    client.send({ type: 'subscribe', id: 'steal-thread', thread_id: theirs.thread_id })
    client.send({ type: 'cancel', id: 'steal-cancel', run_id: theirs.run_id })
    client.send({ type: 'message', id: 'steal-post', content: 'mine now', agent: 'slow', thread_id: theirs.thread_id })
    t.strictSame(await client.waitFor((f) => f.reply_to === 'steal-run', 'steal-run'), { type: 'error', reply_to: 'steal-run', data: { code: 'not_found', message: 'run not found' } })
    t.strictSame(await client.waitFor((f) => f.reply_to === 'steal-run-resume', 'steal-run-resume'), { type: 'error', reply_to: 'steal-run-resume', data: { code: 'not_found', message: 'run not found' } })
    t.strictSame(await client.waitFor((f) => f.reply_to === 'steal-thread', 'steal-thread'), { type: 'error', reply_to: 'steal-thread', data: { code: 'not_found', message: 'thread not found' } })
    t.strictSame(await client.waitFor((f) => f.reply_to === 'steal-cancel', 'steal-cancel'), { type: 'error', reply_to: 'steal-cancel', data: { code: 'not_found', message: 'run not found' } })
    t.strictSame(await client.waitFor((f) => f.reply_to === 'steal-post', 'steal-post'), { type: 'error', reply_to: 'steal-post', data: { code: 'not_found', message: 'thread not found' } })
  }))

  const expected = slowRunTypes(STEPS)
  await Promise.all(clients.map(async (client, i) => {
    for (const run of accepted[i]) {
      const events = await client.runEnd(run.run_id)
      t.strictSame(types(events), expected, `${USERS[i]} ${run.run_id}: the whole run, in order`)
      t.strictSame(seqs(events), range(1, expected.length), `${USERS[i]} ${run.run_id}: seq contiguous from 1`)
    }
  }))
  await Promise.all(clients.map((client) => client.barrier()))

  for (const [i, client] of clients.entries()) {
    const mine = new Set(accepted[i].map((a) => a.run_id))
    const runEvents = client.frames.filter((f) => typeof f.seq === 'number')
    t.equal(runEvents.length, RUNS_PER_USER * expected.length, `${USERS[i]}: exactly its own events`)
    t.strictSame(runEvents.filter((e) => e.user_id !== USERS[i] || !mine.has(e.run_id!)), [], `${USERS[i]}: no foreign event`)
    const text = JSON.stringify(client.frames)
    for (const [j, other] of USERS.entries()) {
      if (j === i) continue
      const leaked = [other, ...accepted[j].flatMap((a) => [a.run_id, a.thread_id, a.message_id])].filter((id) => text.includes(id))
      t.strictSame(leaked, [], `${USERS[i]} saw nothing of ${other}`)
    }
    t.equal(client.frames.filter((f) => TERMINAL.has(f.type)).length, RUNS_PER_USER)

    for (const run of accepted[i]) {
      const stored = await app.inject({ url: `/runs/${run.run_id}/events`, headers: auth(USERS[i]) })
      t.strictSame(stored.json().events, client.events(run.run_id), `${USERS[i]} ${run.run_id}: what the socket saw is what is stored`)
    }
  }

  // over HTTP, another user's run and thread look exactly like missing ones
  const owner = USERS[1]
  const theirs = accepted[1][0]
  const notFound = (what: string) => ({ statusCode: 404, code: 'not_found', error: 'Not Found', message: `${what} not found` })
  for (const [path, what] of [
    [`/runs/${theirs.run_id}`, 'run'],
    [`/runs/${theirs.run_id}/events`, 'run'],
    [`/runs/${theirs.run_id}/events?after_seq=3`, 'run'],
    [`/threads/${theirs.thread_id}`, 'thread'],
    [`/threads/${theirs.thread_id}/messages`, 'thread'],
    ['/runs/no-such-run', 'run'],
    ['/threads/no-such-thread', 'thread']
  ]) {
    const res = await app.inject({ url: path, headers: auth(USERS[0]) })
    t.equal(res.statusCode, 404, path)
    t.strictSame(res.json(), notFound(what), path)
  }
  const cancel = await app.inject({ method: 'POST', url: `/runs/${theirs.run_id}/cancel`, headers: auth(USERS[0]) })
  t.strictSame([cancel.statusCode, cancel.json().code], [404, 'not_found'])
  const mine = await app.inject({ url: `/runs/${theirs.run_id}`, headers: auth(owner) })
  t.strictSame([mine.statusCode, mine.json().status], [200, 'completed'], 'the owner still sees it, completed: nobody else could cancel it')
})

t.test('a refused thread subscription leaves no watch behind: later runs on that thread stay private', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const owner = await connected(t, wsUrl, auth('owner'))
  const snoop = await connected(t, wsUrl, auth('snoop'))

  owner.send({ type: 'message', id: 'a', content: 'first', agent: 'slow', input: { steps: 1, ms: 10 } })
  const first = (await owner.waitFor((f) => f.reply_to === 'a', 'first accepted')).data as Accepted
  await owner.runEnd(first.run_id)
  await until(async () => (await app.store.getThread('owner', first.thread_id))?.active_run_id === null || undefined, 'the thread to be idle')

  snoop.send({ type: 'subscribe', id: 's', thread_id: first.thread_id })
  t.strictSame(await snoop.waitFor((f) => f.reply_to === 's', 'snoop subscribe'), { type: 'error', reply_to: 's', data: { code: 'not_found', message: 'thread not found' } })
  snoop.send({ type: 'subscribe', id: 'r', run_id: first.run_id, after_seq: 0 })
  t.strictSame(await snoop.waitFor((f) => f.reply_to === 'r', 'snoop subscribe run'), { type: 'error', reply_to: 'r', data: { code: 'not_found', message: 'run not found' } })

  owner.send({ type: 'message', id: 'b', content: 'second', agent: 'slow', thread_id: first.thread_id, input: { steps: 2, ms: 10 } })
  const second = (await owner.waitFor((f) => f.reply_to === 'b', 'second accepted')).data as Accepted
  t.equal(second.thread_id, first.thread_id)
  t.strictSame(types(await owner.runEnd(second.run_id)), slowRunTypes(2))

  await snoop.barrier()
  const seen: Frame[] = snoop.frames.filter((f) => f.type !== 'pong')
  t.strictSame(seen.map((f) => f.type), ['connection_established', 'error', 'error'], 'the snoop got its two refusals and nothing else')
})

t.test('two sockets of the same user both get the user\'s run; another user\'s socket does not', async (t) => {
  const { wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const [laptop, phone, neighbour]: Client[] = await Promise.all([
    connected(t, wsUrl, auth('frank')), connected(t, wsUrl, auth('frank')), connected(t, wsUrl, auth('grace'))
  ])
  laptop.send({ type: 'message', content: 'on the laptop', agent: 'slow', input: { steps: 2, ms: 30 } })
  const { run_id: runId } = (await laptop.waitFor((f) => f.type === 'message_accepted', 'accepted')).data as Accepted
  phone.send({ type: 'subscribe', id: 'follow', run_id: runId })
  const subscribed = await phone.waitFor((f) => f.reply_to === 'follow', 'subscribed')
  t.strictSame(subscribed, { type: 'subscribed', reply_to: 'follow', run_id: runId, last_seq: subscribed.last_seq, recovered: true })

  const onLaptop = await laptop.runEnd(runId)
  const onPhone = await phone.runEnd(runId)
  t.strictSame(types(onLaptop), slowRunTypes(2))
  t.strictSame(onPhone, onLaptop, 'the same events, in the same order')
  await neighbour.barrier()
  t.strictSame(neighbour.frames.map((f) => f.type), ['connection_established', 'pong'])
})
