import { Redis, type RedisOptions } from 'ioredis'
import { silentLogger, type Logger } from '../core/context.js'
import type { BusListener, EventBus } from './types.js'

export interface RedisBusOptions {
  url: string
  /** prepended to every channel, so several deployments (or test runs) share one Redis */
  prefix?: string
  log?: Logger
  /** a command Redis has not answered in this long rejects (a half-open connection) */
  commandTimeoutMs?: number
}

interface Channel { listeners: Set<BusListener>, subscribed: Promise<void> }

const noop = () => {}

/**
 * The many-process bus: one publisher and one subscriber connection per process, and one Redis
 * subscription per channel however many local listeners. Pub/sub is at-most-once, so nothing is
 * queued while Redis is away: `publish` rejects at once, `onStatus(false)` sends followers to the
 * store, and `onStatus(true)` comes once both connections are back and every channel is subscribed
 * again. While down, `subscribe` resolves at once: its channel is subscribed before `true` is told.
 */
export function createRedisBus (opts: RedisBusOptions): EventBus {
  const prefix = opts.prefix ?? ''
  const log = opts.log ?? silentLogger
  const connection: RedisOptions = {
    // a command while disconnected fails now instead of waiting in memory for Redis to return
    enableOfflineQueue: false,
    // ... and so does one in flight when the connection drops
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs ?? 5000,
    // resubscribed here, so `up` is told only once it is done
    autoResubscribe: false
  }
  const pub = new Redis(opts.url, { ...connection, connectionName: 'agentwire-pub' })
  const sub = new Redis(opts.url, { ...connection, connectionName: 'agentwire-sub' })
  const channels = new Map<string, Channel>()
  const statusListeners = new Set<(up: boolean) => void>()
  let up = false
  let closed = false
  let reported = false

  function setUp (next: boolean) {
    if (next === up || closed) return
    up = next
    if (next) { reported = false; log.info({}, 'redis bus is live') } else report()
    for (const listener of [...statusListeners]) {
      try { listener(next) } catch (err) { log.error({ err }, 'bus status listener failed') }
    }
  }

  function report (err?: Error) {
    if (reported || closed) return
    reported = true
    log.warn({ err }, 'redis bus is down: live messages may be lost until it is back')
  }

  async function connected () {
    if (pub.status !== 'ready' || sub.status !== 'ready') return
    const names = [...channels.keys()].map((c) => prefix + c)
    try {
      if (names.length) await sub.subscribe(...names)
    } catch (err) {
      // dropped again meanwhile: the next `ready` tries again
      log.debug({ err }, 'resubscribing failed')
      return
    }
    if (pub.status === 'ready' && sub.status === 'ready') setUp(true)
  }

  for (const conn of [pub, sub]) {
    conn.on('ready', () => { connected().catch(noop) })
    conn.on('close', () => setUp(false))
    conn.on('error', (err: Error) => { report(err); log.debug({ err }, 'redis connection error') })
  }

  sub.on('message', (name: string, message: string) => {
    const channel = channels.get(name.slice(prefix.length))
    if (!channel) return
    for (const listener of [...channel.listeners]) {
      try { listener(message) } catch (err) { log.error({ err, channel: name }, 'bus listener failed') }
    }
  })

  return {
    async publish (channel, message) {
      if (closed) throw new Error('bus closed')
      await pub.publish(prefix + channel, message)
    },

    async subscribe (channel, listener) {
      if (closed) throw new Error('bus closed')
      let entry = channels.get(channel)
      if (!entry) {
        const subscribed = sub.status === 'ready'
          ? sub.subscribe(prefix + channel).then(noop, (err) => log.debug({ err, channel }, 'subscribe failed; resubscribed on reconnect'))
          : Promise.resolve()
        entry = { listeners: new Set(), subscribed }
        channels.set(channel, entry)
      }
      const mine = entry
      mine.listeners.add(listener)
      await mine.subscribed
      return async () => {
        if (!mine.listeners.delete(listener) || mine.listeners.size || channels.get(channel) !== mine) return
        channels.delete(channel)
        if (sub.status === 'ready') await sub.unsubscribe(prefix + channel).catch(noop)
      }
    },

    onStatus (listener) {
      statusListeners.add(listener)
      // a follower that starts while Redis is away must know it too
      if (!up) queueMicrotask(() => { if (!up && !closed && statusListeners.has(listener)) listener(false) })
      return () => { statusListeners.delete(listener) }
    },

    async ping () {
      if (!up) throw new Error('redis bus is down')
      await pub.ping()
    },

    async close () {
      if (closed) return
      closed = true
      channels.clear()
      statusListeners.clear()
      await Promise.all([pub, sub].map((conn) => conn.quit().then(noop, () => conn.disconnect())))
    }
  }
}
