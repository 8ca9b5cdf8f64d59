/**
 * The Socket.IO peer, with connection-state recovery: the same runs and HTTP routes as the ws
 * peer, no auth, no store. Events go to rooms (`run:<id>` after `subscribe`, `user:<id>` after
 * `watch`); a socket that drops and reconnects within two minutes gets its rooms back and every
 * packet it missed.
 */
import http from 'node:http'
import { Server } from 'socket.io'
import { announce, createRuns, readJson } from './runs.mjs'

const runs = createRuns()
const server = http.createServer((req, res) => {
  const reply = (status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
  if (req.method === 'POST' && req.url === '/messages') {
    readJson(req).then((body) => {
      const run = runs.start(String(body.user), body.input ?? {}, (json, r) => io.to([`run:${r.run_id}`, `user:${r.user_id}`]).emit('e', json))
      reply(202, { run_id: run.run_id, thread_id: run.thread_id, status: 'running' })
    }, () => reply(400, { code: 'invalid_request' }))
    return
  }
  const m = /^\/runs\/([^/?]+)$/.exec(req.url)
  const run = m && req.method === 'GET' && runs.get(m[1])
  if (run) return reply(200, { run_id: run.run_id, status: run.status })
  reply(404, { code: 'not_found' })
})

const io = new Server(server, {
  transports: ['websocket'],
  maxHttpBufferSize: 64 * 1024,
  connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true }
})
io.on('connection', (socket) => {
  const user = String(socket.handshake.query.user ?? 'anonymous')
  socket.on('subscribe', (frame, ack) => {
    const run = runs.get(frame.run_id)
    if (!run || run.user_id !== user) return ack({ error: 'not_found' })
    ack({ last_seq: run.log.length })
    for (let i = frame.after_seq ?? 0; i < run.log.length; i++) socket.emit('e', run.log[i])
    socket.join(`run:${run.run_id}`)
  })
  socket.on('watch', (ack) => { socket.join(`user:${user}`); ack({}) })
})

server.listen(0, '127.0.0.1', () => announce(server))
process.on('SIGTERM', () => process.exit(0))
