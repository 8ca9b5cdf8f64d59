import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { randomUUID } from 'node:crypto'
import { WebSocket, type RawData } from 'ws'
import { bearer, type Identity } from '../plugins/auth.js'
import { watchHeartbeat } from '../plugins/websocket.js'
import type { Config } from '../src/config.js'
import { UserExecutionContext } from '../src/core/context.js'
import { FRAME_TYPES, checkFrame, type ClientFrame } from '../src/core/events.js'
import { Errors, isCoded } from '../src/errors.js'

/** `Origin` must be allowed; absent (non-browser clients) is fine. Default: same origin only. */
function originAllowed (request: FastifyRequest, allowed: string[] | undefined): boolean {
  const origin = request.headers.origin
  if (!origin) return true
  if (allowed) return allowed.includes('*') || allowed.includes(origin)
  try { return new URL(origin).host === request.headers.host } catch { return false }
}

const MAX_DELAY = 2 ** 31 - 1

/** A followed run; `stopped` also silences a follow still replaying when it is replaced or dropped. */
interface Follow { stopped: boolean, handle?: { stop(): void } }
/** A watched thread; `ready` settles with whether the thread is this user's. */
interface Watch { stopped: boolean, ready: Promise<boolean>, off?: () => Promise<void> }

/** WebSocket `/ws` (CONTRACT §4): authenticated before the upgrade, frames checked one by one. */
const wsRoutes: FastifyPluginAsync<{ config: Config }> = async (app, opts) => {
  const { allowedOrigins, limits } = opts.config

  app.get('/ws', {
    websocket: true,
    schema: { hide: true },
    async preValidation (request) {
      if (!originAllowed(request, allowedOrigins)) throw new Errors.ForbiddenOrigin()
      const token = bearer(request.headers.authorization)
      const ticket = (request.query as { ticket?: unknown }).ticket
      if (token) {
        request.identity = app.verifyToken(token)
      } else if (typeof ticket === 'string' && ticket.length <= 256) {
        const t = await app.store.consumeTicket(ticket, Date.now() / 1000)
        if (!t) throw new Errors.Unauthorized('invalid or used ticket')
        request.identity = { user_id: t.user_id, exp: t.token_exp }
      } else {
        throw new Errors.Unauthorized('missing credential: Authorization header or ?ticket=')
      }
    }
  }, (socket, request) => {
    const identity = request.identity as Identity
    const connection_id = randomUUID()
    const user = UserExecutionContext.create({ user_id: identity.user_id, request_id: request.id, connection_id, log: request.log })
    const runs = new Map<string, Follow>()
    const threads = new Map<string, Watch>()
    let open = true

    const send = (frame: unknown) => { if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame)) }
    const target = {
      user_id: user.user_id,
      send (json: string) {
        if (socket.readyState !== WebSocket.OPEN) return
        // a client this far behind resumes from its last seq; the store keeps everything
        if (socket.bufferedAmount > limits.wsMaxBufferedBytes) { socket.close(4008, 'too slow'); return }
        socket.send(json)
      }
    }
    const replyTo = (frame: { id?: unknown }) => frame.id === undefined ? {} : { reply_to: frame.id }
    const fail = (frame: { id?: unknown }, code: string, message: string) =>
      send({ type: 'error', ...replyTo(frame), data: { code, message } })

    const stopFollow = (follow: Follow | undefined) => {
      if (!follow) return
      follow.stopped = true
      follow.handle?.stop()
    }

    async function followRun (runId: string, afterSeq: number, onSubscribed?: (lastSeq: number) => void) {
      stopFollow(runs.get(runId))
      const follow: Follow = { stopped: false }
      runs.set(runId, follow)
      // two overlapping follows of one run would each send every event: only the latest may send
      const handle = await app.feed.follow({ user_id: target.user_id, send: (json) => { if (!follow.stopped) target.send(json) } }, runId, afterSeq, onSubscribed)
      if (!handle) {
        if (runs.get(runId) === follow) runs.delete(runId)
        return false
      }
      if (!open || follow.stopped) handle.stop()
      else follow.handle = handle
      return true
    }

    async function dropWatch (threadId: string, watch: Watch) {
      watch.stopped = true
      if (threads.get(threadId) === watch) threads.delete(threadId)
      const off = watch.off
      watch.off = undefined
      await off?.()
    }

    async function handle (frame: ClientFrame) {
      switch (frame.type) {
        case 'ping':
          return send({ type: 'pong', ...replyTo(frame), data: { server_time: Date.now() / 1000 } })
        case 'subscribe':
          if ('run_id' in frame) {
            const ok = await followRun(frame.run_id, frame.after_seq ?? 0, (last_seq) =>
              send({ type: 'subscribed', ...replyTo(frame), run_id: frame.run_id, last_seq, recovered: true }))
            if (!ok) fail(frame, 'not_found', 'run not found')
            return
          }
          return subscribeThread(frame)
        case 'unsubscribe':
          if ('run_id' in frame) {
            stopFollow(runs.get(frame.run_id))
            runs.delete(frame.run_id)
            return send({ type: 'unsubscribed', ...replyTo(frame), run_id: frame.run_id })
          }
          {
            const watch = threads.get(frame.thread_id)
            if (watch) {
              // a subscribe still under way answers first, then this unsubscribe undoes it; a
              // subscribe after this one makes a new watch
              threads.delete(frame.thread_id)
              watch.stopped = true
              await watch.ready
              await dropWatch(frame.thread_id, watch)
            }
          }
          return send({ type: 'unsubscribed', ...replyTo(frame), thread_id: frame.thread_id })
        case 'message': {
          const { type: _t, id: _i, ...req } = frame
          const accepted = await app.engine.submit(user, req)
          send({ type: 'message_accepted', ...replyTo(frame), data: { message_id: accepted.message_id, thread_id: accepted.thread_id, run_id: accepted.run_id } })
          if (!runs.has(accepted.run_id)) await followRun(accepted.run_id, 0)
          return
        }
        case 'cancel': {
          const result = await app.engine.cancel(user, frame.run_id)
          return send({ type: 'cancel_accepted', ...replyTo(frame), data: result })
        }
      }
    }

    async function subscribeThread (frame: { id?: unknown, thread_id: string }) {
      const { thread_id } = frame
      const pending = threads.get(thread_id)
      if (pending) {
        // a second subscribe answers like the first and adds no second watch
        if (await pending.ready) send({ type: 'subscribed', ...replyTo(frame), thread_id })
        else fail(frame, 'not_found', 'thread not found')
        return
      }
      let settle: (mine: boolean) => void = () => {}
      const watch: Watch = { stopped: false, ready: new Promise((resolve) => { settle = resolve }) }
      threads.set(thread_id, watch)
      let thread
      try {
        // watch first, then read: a run started in between is announced, not missed
        watch.off = await app.feed.watchThread(thread_id, (runId) => {
          if (!watch.stopped && !runs.has(runId)) followRun(runId, 0).catch((err) => request.log.error({ err }, 'following a thread run failed'))
        })
        thread = await app.store.getThread(user.user_id, thread_id)
      } catch (err) {
        settle(false)
        await dropWatch(thread_id, watch)
        throw err
      }
      settle(thread !== undefined)
      if (!thread || !open) {
        await dropWatch(thread_id, watch)
        if (!thread) fail(frame, 'not_found', 'thread not found')
        return
      }
      send({ type: 'subscribed', ...replyTo(frame), thread_id })
      if (!watch.stopped && thread.active_run_id && !runs.has(thread.active_run_id)) await followRun(thread.active_run_id, 0)
    }

    // attached before any await, so no frame is missed
    socket.on('message', (data: RawData, isBinary: boolean) => {
      let frame: { id?: unknown, type?: unknown } = {}
      try {
        if (isBinary) return fail(frame, 'invalid_request', 'binary frames are not supported; send JSON text')
        try { frame = JSON.parse(data.toString()) } catch { return fail({}, 'invalid_request', 'frame is not valid JSON') }
        if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) return fail({}, 'invalid_request', 'frame must be a JSON object')
        if (typeof frame.type !== 'string' || !FRAME_TYPES.has(frame.type)) return fail(frame, 'invalid_request', `unknown frame type ${JSON.stringify(frame.type)}`)
        const checked = checkFrame(frame as { type: string })
        if ('error' in checked) return fail(frame, 'invalid_request', `invalid ${frame.type} frame: ${checked.error}`)
        handle(checked.frame).catch((err) => {
          if (isCoded(err) && err.statusCode && err.statusCode < 500) return fail(frame, err.code, err.message)
          request.log.error({ err }, 'websocket frame failed')
          fail(frame, 'internal', 'internal error')
        })
      } catch (err) {
        request.log.error({ err }, 'websocket frame failed')
        fail(frame, 'internal', 'internal error')
      }
    })

    const expiry = setTimeout(() => socket.close(1008, 'token_expired'), Math.min(MAX_DELAY, Math.max(0, identity.exp * 1000 - Date.now())))
    socket.on('close', () => {
      open = false
      clearTimeout(expiry)
      for (const follow of runs.values()) stopFollow(follow)
      runs.clear()
      for (const [threadId, watch] of threads) dropWatch(threadId, watch).catch(() => {})
      threads.clear()
    })
    watchHeartbeat(socket)
    send({ type: 'connection_established', data: { connection_id, user_id: user.user_id, server_time: Date.now() / 1000 } })
  })
}

export default wsRoutes
