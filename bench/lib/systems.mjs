import { createSigner } from 'fast-jwt'
import { randomUUID } from 'node:crypto'
import { io } from 'socket.io-client'
import WebSocket from 'ws'
import { wallMs } from './stats.mjs'

/**
 * One client socket of any system, the same shape for all: run events go to `onEvent(event,
 * receivedMs)`; `subscribe` follows a run after `after_seq`; `watch` follows the user's (or the
 * thread's) later runs; `drop` cuts the connection at once, as a network failure would.
 */
class WsSock {
  constructor (url, headers) {
    this.onEvent = () => {}
    this.onClose = () => {}
    this.waiters = []
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
      this.ws.once('error', reject)
      this.ready = resolve
    })
    this.opened.catch(() => {})
    this.ws.on('error', () => {})
    this.ws.on('close', (code) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`socket closed ${code}`))
      this.onClose(code)
    })
    this.ws.on('message', (data) => {
      const now = wallMs()
      const frame = JSON.parse(data.toString())
      if (frame.seq !== undefined) return this.onEvent(frame, now)
      if (frame.type === 'connection_established') return this.ready()
      const i = this.waiters.findIndex((w) => w.match(frame))
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(frame)
    })
  }

  #request (frame, match) {
    return new Promise((resolve, reject) => {
      this.waiters.push({ match, resolve, reject })
      this.ws.send(JSON.stringify(frame))
    })
  }

  subscribe (run_id, after_seq = 0) {
    return this.#request({ type: 'subscribe', run_id, after_seq }, (f) => (f.type === 'subscribed' && f.run_id === run_id) || f.type === 'error')
  }

  watch (thread_id) {
    return this.#request(thread_id ? { type: 'subscribe', thread_id } : { type: 'watch' }, (f) => f.type === 'subscribed' || f.type === 'error')
  }

  drop () { this.ws.terminate() }
  close () { this.ws.terminate() }
}

class IoSock {
  constructor (url, user) {
    this.onEvent = () => {}
    this.onClose = () => {}
    this.s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, query: { user } })
    this.s.on('e', (json) => this.onEvent(JSON.parse(json), wallMs()))
    this.s.on('disconnect', (reason) => { if (reason === 'io server disconnect') this.onClose(reason) })
    this.opened = this.#connected()
    this.opened.catch(() => {})
  }

  #connected () {
    return new Promise((resolve, reject) => {
      this.s.once('connect', resolve)
      this.s.once('connect_error', reject)
    })
  }

  subscribe (run_id, after_seq = 0) { return this.s.emitWithAck('subscribe', { run_id, after_seq }) }
  watch () { return this.s.emitWithAck('watch') }
  /** closes the transport only: the server keeps the session for recovery */
  drop () { this.s.io.engine.close() }
  /** reconnects with the session id and last offset: rooms and missed packets come back */
  async recover () {
    const connected = this.#connected()
    this.s.connect()
    await connected
    return this.s.recovered
  }

  close () { this.s.disconnect(); this.s.io.engine?.close() }
}

const AGENTWIRE_BODY = { content: 'bench', agent: 'bench', input: { n: 0 } }

async function json (res, what) {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`)
  return res.json()
}

/** A peer (ws or Socket.IO): users are names in the query string, runs start over HTTP. */
export function peerSystem (name, server, kind) {
  const wsUrl = server.url.replace(/^http/, 'ws') + '/ws'
  return {
    name,
    pid: server.pid,
    /** how a dropped socket gets its missed events: a new socket with after_seq, or recovery */
    resume: kind === 'socketio' ? 'recovery' : 'after_seq',
    async open (user) {
      const sock = kind === 'socketio' ? new IoSock(server.url, user) : new WsSock(`${wsUrl}?user=${encodeURIComponent(user)}`, {})
      await sock.opened
      return sock
    },
    async startRun (user, input) {
      return json(await fetch(`${server.url}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, input }) }), 'POST /messages')
    },
    async status (_user, runId) { return (await json(await fetch(`${server.url}/runs/${runId}`), 'GET /runs')).status },
    postUrl: `${server.url}/messages`,
    // bare Fastify takes agentwire's body; the ws and Socket.IO peers name their user in it
    postBody: () => JSON.stringify(kind === 'fastify' ? AGENTWIRE_BODY : { user: 'u', input: { n: 0 } })
  }
}

/**
 * agentwire: every socket and request carries a JWT signed with the bench's secret. `api` takes the
 * POSTs (where runs execute); `sockets` serves the WebSockets (the same server when embedded).
 */
export function agentwireSystem (name, api, sockets, secret) {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 4 * 3600 * 1000 })
  const tokens = new Map()
  const bearer = (user) => {
    let t = tokens.get(user)
    if (!t) tokens.set(user, (t = `Bearer ${sign({ sub: user, jti: randomUUID() })}`))
    return t
  }
  const wsUrl = sockets.url.replace(/^http/, 'ws') + '/ws'
  return {
    name,
    pid: sockets.pid,
    apiPid: api.pid,
    resume: 'after_seq',
    bearer,
    async open (user) {
      const sock = new WsSock(wsUrl, { authorization: bearer(user) })
      await sock.opened
      return sock
    },
    async startRun (user, input, thread_id) {
      const body = { content: 'bench', agent: 'bench', input, ...(thread_id ? { thread_id } : {}) }
      return json(await fetch(`${api.url}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer(user) }, body: JSON.stringify(body) }), 'POST /messages')
    },
    async status (user, runId) {
      return (await json(await fetch(`${api.url}/runs/${runId}`, { headers: { authorization: bearer(user) } }), 'GET /runs')).status
    },
    postUrl: `${api.url}/messages`,
    postBody: () => JSON.stringify(AGENTWIRE_BODY)
  }
}
