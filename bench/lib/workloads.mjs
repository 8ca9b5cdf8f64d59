import autocannon from 'autocannon'
import path from 'node:path'
import { openGate } from './gate.mjs'
import { cpuMs, rss, sampleRss } from './children.mjs'
import { pool, sleep, summary, until, wallMs } from './stats.mjs'

const TERMINAL = new Set(['run_completed', 'run_failed', 'run_cancelled'])
const range = (n) => Array.from({ length: n }, (_, i) => i)

/** One run as one socket sees it: seq order, disorder, emit→receive of agent_thinking. */
class Follow {
  next = 1
  disorder = 0
  events = 0
  thinking = 0
  done = false
  lastRecv = 0

  take (ev, now, latencies) {
    if (ev.seq !== this.next) {
      this.disorder++
      if (ev.seq < this.next) return
    }
    this.next = ev.seq + 1
    this.events++
    this.lastRecv = now
    if (ev.type === 'agent_thinking') {
      this.thinking++
      latencies?.push(now - Number(ev.data.thought.split(' ')[1]))
    }
    if (TERMINAL.has(ev.type)) this.done = true
  }

  get last () { return this.next - 1 }
}

function refused (answer) {
  if (answer?.type === 'error' || answer?.error) throw new Error(`subscribe refused: ${JSON.stringify(answer)}`)
}

/**
 * A client following one run. A socket the server closes (4008 too slow, …) is reopened and
 * resubscribed after its last seq, as the contract tells clients to; `resumes` counts that.
 */
function client (sys, user, latencies) {
  const c = { user, sock: undefined, run_id: undefined, follow: new Follow(), resumes: 0, dropped: false }
  c.attach = (sock) => {
    c.sock = sock
    sock.onEvent = (ev, now) => { if (ev.run_id === c.run_id) c.follow.take(ev, now, latencies) }
    sock.onClose = () => {
      if (sock !== c.sock || c.dropped || c.follow.done || !c.run_id || sys.resume !== 'after_seq') return
      c.resumes++
      c.reopen().catch(() => {})
    }
  }
  c.reopen = async () => {
    c.attach(await sys.open(c.user))
    refused(await c.sock.subscribe(c.run_id, c.follow.last))
  }
  c.open = async () => { c.attach(await sys.open(c.user)); return c }
  c.close = () => { c.dropped = true; c.sock?.close() }
  return c
}

const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0)

/**
 * Per-run delivery: `sockets` users, one socket and one run of `n` events each, every run
 * starting at the same moment (paced runs spread over one interval). Flat out when
 * `interval_ms` is 0. deliveries/s counts agent_thinking events from the start to the last receipt.
 */
export async function delivery (sys, o) {
  const latencies = []
  const gate = path.join(o.gateDir, `${o.tag}.start`)
  const clients = await pool(range(o.sockets), 100, (i) => client(sys, `${o.tag}-${i}`, latencies).open())
  try {
    await pool(clients, 32, async (c, i) => {
      const input = { n: o.n, gate }
      if (o.interval_ms) Object.assign(input, { interval_ms: o.interval_ms, phase_ms: (i / clients.length) * o.interval_ms })
      c.run_id = (await sys.startRun(c.user, input)).run_id
      refused(await c.sock.subscribe(c.run_id, 0))
    })
    // every socket is subscribed: the runs start together, a little after the gate opens
    const cpu0 = serverCpuMs(sys)
    const start = wallMs() + 50
    openGate(gate, { start_at: start })
    const complete = await until(() => clients.every((c) => c.follow.done), o.timeoutMs)
    const delivered = sum(clients, (c) => c.follow.thinking)
    const lastRecv = Math.max(...clients.map((c) => c.follow.lastRecv))
    const cpu = serverCpuMs(sys) - cpu0
    return {
      deliveries_per_s: delivered / ((lastRecv - start) / 1000),
      // the server's CPU time per 1,000 deliveries: steadier than rates on a machine doing other work
      server_cpu_ms_per_1k: cpu / (delivered / 1000),
      latency_ms: summary(latencies),
      disorder: sum(clients, (c) => c.follow.disorder),
      delivered,
      expected: o.sockets * o.n,
      complete,
      resumes: sum(clients, (c) => c.resumes),
      seconds: (lastRecv - start) / 1000
    }
  } finally {
    for (const c of clients) c.close()
  }
}

/** CPU ms the system's server processes have used (both of distributed's) */
const serverCpuMs = (sys) => [...new Set([sys.pid, sys.apiPid ?? sys.pid])].reduce((a, pid) => a + cpuMs(pid), 0)

/** `POST /messages` flat out with autocannon; agentwire's requests rotate over `users` tokens. */
export async function postRate (sys, o) {
  const users = range(o.users).map((i) => `${o.tag}-${i}`)
  let next = 0
  const bearer = sys.bearer
  if (bearer) users.forEach(bearer)
  const cpu0 = serverCpuMs(sys)
  const result = await autocannon({
    url: sys.postUrl,
    method: 'POST',
    connections: o.connections,
    duration: o.seconds,
    headers: { 'content-type': 'application/json' },
    body: sys.postBody(),
    ...(bearer && {
      requests: [{
        setupRequest (req) {
          req.headers = { ...req.headers, authorization: bearer(users[next++ % users.length]) }
          return req
        }
      }]
    })
  })
  const cpu = serverCpuMs(sys) - cpu0
  return {
    requests_per_s: result['2xx'] / result.duration,
    server_cpu_ms_per_request: cpu / Math.max(1, result['2xx']),
    latency_ms: { p50: result.latency.p50, p99: result.latency.p99 },
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts
  }
}

/**
 * POST → `agent_started` on an already open socket, one request at a time: agentwire's socket
 * follows the thread, a peer's the user. `plainPost` (bare Fastify) times the POST round trip.
 */
export async function postToStarted (sys, o) {
  const latencies = []
  if (o.plainPost) {
    for (let i = 0; i < o.samples; i++) {
      const t0 = wallMs()
      const res = await fetch(sys.postUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sys.postBody() })
      await res.arrayBuffer()
      if (res.status !== 202) throw new Error(`POST answered ${res.status}`)
      latencies.push(wallMs() - t0)
    }
    return { latency_ms: summary(latencies) }
  }
  const user = `${o.tag}-post`
  const sock = await sys.open(user)
  try {
    const started = new Map()
    const ended = new Set()
    let wake = () => {}
    sock.onEvent = (ev, now) => {
      if (ev.type === 'agent_started' && !started.has(ev.run_id)) started.set(ev.run_id, now)
      if (TERMINAL.has(ev.type)) ended.add(ev.run_id)
      wake()
    }
    const seen = (runId) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`run ${runId} did not end on the socket`)), o.timeoutMs)
      wake = () => { if (started.has(runId) && ended.has(runId)) { clearTimeout(timer); resolve() } }
      wake()
    })
    let thread
    if (sys.bearer) {
      // a thread to follow: its first run must end before the next message (multitask reject)
      const first = await sys.startRun(user, { n: 0 })
      thread = first.thread_id
      refused(await sock.watch(thread))
      while (!ended.has(first.run_id) && await sys.status(user, first.run_id) !== 'completed') await sleep(20)
    } else {
      refused(await sock.watch())
    }
    for (let i = 0; i < o.samples; i++) {
      const t0 = wallMs()
      const { run_id } = await sys.startRun(user, { n: 0 }, thread)
      await seen(run_id)
      latencies.push(started.get(run_id) - t0)
    }
    return { latency_ms: summary(latencies) }
  } finally {
    sock.close()
  }
}

/**
 * Resume storm: `sockets` runs of `n` events; once every socket has the first `split`, all drop at
 * once; the runs finish meanwhile; then all reconnect at once and resume (after_seq, or Socket.IO's
 * recovery). `whole_ms`: from the reconnect until every socket has its full sequence.
 */
export async function storm (sys, o) {
  const clients = await pool(range(o.sockets), 100, (i) => client(sys, `${o.tag}-${i}`).open())
  try {
    const gate = path.join(o.gateDir, `${o.tag}.start`)
    const resumeGate = path.join(o.gateDir, `${o.tag}.resume`)
    await pool(clients, 32, async (c) => {
      c.run_id = (await sys.startRun(c.user, { n: o.n, gate, split: o.split, resume_gate: resumeGate })).run_id
      refused(await c.sock.subscribe(c.run_id, 0))
    })
    openGate(gate, { start_at: wallMs() })
    const prefix = 1 + o.split
    if (!await until(() => clients.every((c) => c.follow.last >= prefix), o.timeoutMs)) {
      return { error: `the first ${o.split} events did not reach every socket` }
    }
    for (const c of clients) { c.dropped = true; c.sock.drop() }
    // the runs go on while every socket is away, and finish
    openGate(resumeGate, { start_at: wallMs() })
    await pool(clients, 16, async (c) => {
      const deadline = Date.now() + o.timeoutMs
      while (await sys.status(c.user, c.run_id) !== 'completed') {
        if (Date.now() > deadline) throw new Error(`run ${c.run_id} did not complete`)
        await sleep(50)
      }
    })
    const missed = sum(clients, (c) => o.n + 3 - c.follow.last)
    const t0 = wallMs()
    for (const c of clients) c.dropped = false
    const reconnected = await Promise.allSettled(clients.map((c) => sys.resume === 'recovery' ? c.sock.recover() : c.reopen()))
    const failed = reconnected.filter((r) => r.status === 'rejected')
    const complete = await until(() => clients.every((c) => c.follow.done), o.timeoutMs)
    return {
      whole_ms: Math.max(...clients.map((c) => c.follow.lastRecv)) - t0,
      missed_events: missed,
      complete,
      failed_reconnects: failed.length,
      ...(failed.length && { first_failure: String(failed[0].reason) }),
      disorder: sum(clients, (c) => c.follow.disorder),
      ...(sys.resume === 'recovery' && { recovered: reconnected.filter((r) => r.value === true).length })
    }
  } finally {
    for (const c of clients) c.close()
  }
}

/** Replay of one finished `n`-event run to a new subscriber: events/s and the server's RSS peak. */
export async function replay (sys, o) {
  const c = client(sys, `${o.tag}-replay`)
  const { run_id } = await sys.startRun(c.user, { n: o.n, yield_every: 1000 })
  const deadline = Date.now() + o.emitTimeoutMs
  while (await sys.status(c.user, run_id) !== 'completed') {
    if (Date.now() > deadline) return { error: `the ${o.n}-event run did not complete in ${o.emitTimeoutMs} ms` }
    await sleep(100)
  }
  await sleep(500)
  const before = rss(sys.pid)
  const sampler = sampleRss(sys.pid)
  try {
    await c.open()
    c.run_id = run_id
    const t0 = wallMs()
    refused(await c.sock.subscribe(run_id, 0))
    const complete = await until(() => c.follow.done, o.timeoutMs, 5)
    return {
      events_per_s: c.follow.events / ((c.follow.lastRecv - t0) / 1000),
      events: c.follow.events,
      complete,
      disorder: c.follow.disorder,
      resumes: c.resumes,
      rss_before_mb: before / 2 ** 20,
      rss_peak_mb: sampler.stop() / 2 ** 20
    }
  } finally {
    sampler.stop()
    c.close()
  }
}

/** RSS per idle socket: the server's RSS before and after `sockets` sockets connect and settle. */
export async function idleRss (sys, o) {
  if (sys.bearer) range(o.sockets).forEach((i) => sys.bearer(`${o.tag}-${i}`))
  await sleep(o.settleMs)
  const before = rss(sys.pid)
  const socks = await pool(range(o.sockets), 200, (i) => sys.open(`${o.tag}-${i}`))
  try {
    await sleep(o.settleMs)
    const after = rss(sys.pid)
    return { bytes_per_socket: (after - before) / o.sockets, sockets: o.sockets, rss_before_mb: before / 2 ** 20, rss_after_mb: after / 2 ** 20 }
  } finally {
    for (const s of socks) s.close()
    await sleep(200)
  }
}
