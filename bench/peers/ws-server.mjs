/**
 * The bare `ws` peer: per-user delivery of the same run events, no auth, no store. HTTP
 * `POST /messages {user, input}` starts a run; `GET /runs/:id` answers its status. On `/ws?user=`:
 * `{"type":"subscribe","run_id","after_seq"?}` replays from memory then follows the run live;
 * `{"type":"watch"}` follows every later run of the user (agentwire's thread subscription).
 */
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { announce, createRuns, readJson } from './runs.mjs'

const runs = createRuns()
/** run_id → sockets following it; user → sockets watching the user's runs */
const followers = new Map()
const watchers = new Map()

const send = (socket, json) => { if (socket.readyState === 1) socket.send(json) }

function deliver (json, run) {
  for (const s of followers.get(run.run_id) ?? []) send(s, json)
  for (const s of watchers.get(run.user_id) ?? []) send(s, json)
}

const server = http.createServer((req, res) => {
  const reply = (status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
  if (req.method === 'POST' && req.url === '/messages') {
    readJson(req).then((body) => {
      const run = runs.start(String(body.user), body.input ?? {}, deliver)
      reply(202, { run_id: run.run_id, thread_id: run.thread_id, status: 'running' })
    }, () => reply(400, { code: 'invalid_request' }))
    return
  }
  const m = /^\/runs\/([^/?]+)$/.exec(req.url)
  const run = m && req.method === 'GET' && runs.get(m[1])
  if (run) return reply(200, { run_id: run.run_id, status: run.status })
  reply(404, { code: 'not_found' })
})

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 })
wss.on('connection', (socket, req) => {
  const user = new URL(req.url, 'http://x').searchParams.get('user') ?? 'anonymous'
  const mine = new Set()
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString())
    if (frame.type === 'subscribe') {
      const run = runs.get(frame.run_id)
      if (!run || run.user_id !== user) return send(socket, JSON.stringify({ type: 'error', data: { code: 'not_found' } }))
      send(socket, JSON.stringify({ type: 'subscribed', run_id: run.run_id, last_seq: run.log.length }))
      for (let i = frame.after_seq ?? 0; i < run.log.length; i++) send(socket, run.log[i])
      if (!followers.has(run.run_id)) followers.set(run.run_id, new Set())
      followers.get(run.run_id).add(socket)
      mine.add(followers.get(run.run_id))
    } else if (frame.type === 'watch') {
      if (!watchers.has(user)) watchers.set(user, new Set())
      watchers.get(user).add(socket)
      mine.add(watchers.get(user))
      send(socket, JSON.stringify({ type: 'subscribed' }))
    }
  })
  socket.on('close', () => { for (const set of mine) set.delete(socket) })
  send(socket, JSON.stringify({ type: 'connection_established', data: { user_id: user } }))
})

server.listen(0, '127.0.0.1', () => announce(server))
process.on('SIGTERM', () => process.exit(0))
