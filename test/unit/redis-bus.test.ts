import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { createRedisBus } from '../../src/bus/redis.js'
import type { EventBus } from '../../src/bus/types.js'
import { nextStatus, privateRedis, requireRedis, uniquePrefix, untilLive } from '../helpers/redis.js'

const shared = requireRedis(t)

/** A bus closed at teardown; live once it resolves unless `live` is false. */
async function redisBus (t: Test, url: string, prefix = '', live = true): Promise<EventBus> {
  const bus = createRedisBus({ url, prefix })
  t.teardown(() => bus.close())
  if (live) await untilLive(bus)
  return bus
}

function rawClient (t: Test, url: string): Redis {
  const client = new Redis(url)
  t.teardown(() => client.disconnect())
  return client
}

/** How many connections Redis holds subscribed to `channel`. */
const subscribers = async (client: Redis, channel: string) => Number((await client.pubsub('NUMSUB', channel))[1])

/** A listener that keeps what it gets; `until(n)` resolves once it has n messages. */
function collector () {
  const got: string[] = []
  let waiting: { n: number, resolve: () => void } | undefined
  return {
    got,
    listener: (message: string) => {
      got.push(message)
      if (waiting && got.length >= waiting.n) { waiting.resolve(); waiting = undefined }
    },
    until: (n: number) => got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => { waiting = { n, resolve } })
  }
}

t.test('on the shared Redis', { skip: !shared && 'TEST_REDIS_URL is not set' }, async (t) => {
  const url = shared!

  t.test('one subscription per channel per process, live when subscribe resolves; every listener gets every message in order', async (t) => {
    const prefix = uniquePrefix()
    const raw = rawClient(t, url)
    const a = await redisBus(t, url, prefix)
    const b = await redisBus(t, url, prefix)
    const [l1, l2, l3] = [collector(), collector(), collector()]

    const off1 = await b.subscribe('run:x', l1.listener)
    t.equal(await subscribers(raw, `${prefix}run:x`), 1, 'the SUBSCRIBE is acknowledged when subscribe resolves')
    const off2 = await b.subscribe('run:x', l2.listener)
    t.equal(await subscribers(raw, `${prefix}run:x`), 1, 'a second local listener adds no Redis subscription')
    await a.subscribe('run:x', l3.listener)
    t.equal(await subscribers(raw, `${prefix}run:x`), 2, 'one per process')

    const sent = Array.from({ length: 200 }, (_, i) => `m${i}`)
    await Promise.all(sent.map((m) => a.publish('run:x', m)))
    await Promise.all([l1.until(200), l2.until(200), l3.until(200)])
    t.strictSame(l1.got, sent)
    t.strictSame(l2.got, sent)
    t.strictSame(l3.got, sent)

    await off1()
    await off1()
    await a.publish('run:x', 'after')
    await Promise.all([l2.until(201), l3.until(201)])
    t.equal(l1.got.length, 200, 'a removed listener gets nothing more')
    t.equal(l2.got[200], 'after')
    t.equal(await subscribers(raw, `${prefix}run:x`), 2, 'the channel stays subscribed while a listener remains')
    await off2()
    t.equal(await subscribers(raw, `${prefix}run:x`), 1, 'the last listener gone, the process unsubscribes')
  })

  t.test('the prefix keeps deployments apart: the same channel name under another prefix is another channel', async (t) => {
    const [p1, p2] = [uniquePrefix(), uniquePrefix()]
    const raw = rawClient(t, url)
    const one = await redisBus(t, url, p1)
    const two = await redisBus(t, url, p2)
    const [c1, c2] = [collector(), collector()]
    await one.subscribe('queue', c1.listener)
    await two.subscribe('queue', c2.listener)

    await two.publish('queue', 'for two')
    await raw.publish(`${p1}queue`, 'for one')
    await Promise.all([c1.until(1), c2.until(1)])
    // Redis delivers to a connection in the order it took the publishes: "for two" came first
    t.strictSame(c1.got, ['for one'])
    t.strictSame(c2.got, ['for two'])
  })

  t.test('a listener that throws does not keep the message from the others', async (t) => {
    const bus = await redisBus(t, url, uniquePrefix())
    const c = collector()
    await bus.subscribe('run:y', () => { throw new Error('boom') })
    await bus.subscribe('run:y', c.listener)
    await bus.publish('run:y', '1')
    await bus.publish('run:y', '2')
    await c.until(2)
    t.strictSame(c.got, ['1', '2'])
  })

  t.test('after close, publish and subscribe reject; close twice is fine', async (t) => {
    const bus = createRedisBus({ url, prefix: uniquePrefix() })
    await untilLive(bus)
    await bus.close()
    await bus.close()
    await t.rejects(bus.publish('run:z', 'late'), /bus closed/)
    await t.rejects(bus.subscribe('run:z', () => {}), /bus closed/)
  })
})

t.test('on a private Redis that the test stops and restarts', { skip: !shared && 'TEST_REDIS_URL is not set' }, async (t) => {
  t.test('down: status false, publish and ping reject, subscribe still resolves; back: status true, every channel resubscribed', async (t) => {
    const server = await privateRedis(t)
    const [a, b] = await Promise.all([redisBus(t, server.url), redisBus(t, server.url)])
    const told: boolean[] = []
    a.onStatus((up) => told.push(up))
    const before = collector()
    await a.subscribe('run:1', before.listener)

    const down = Promise.all([nextStatus(a, false), nextStatus(b, false)])
    await server.stop()
    await down
    await t.rejects(a.publish('run:1', 'lost'), 'publish rejects while Redis is down instead of queueing')
    await t.rejects(a.ping(), /redis bus is down/)
    const during = collector()
    await a.subscribe('run:2', during.listener)
    t.strictSame(told, [false])

    const back = Promise.all([nextStatus(a, true), nextStatus(b, true)])
    await server.start()
    await back
    t.strictSame(told, [false, true])
    await a.ping()
    const raw = rawClient(t, server.url)
    t.equal(await subscribers(raw, 'run:1'), 1, 'resubscribed once')
    t.equal(await subscribers(raw, 'run:2'), 1, 'subscribed while down, live now')

    await b.publish('run:1', 'one')
    await b.publish('run:2', 'two')
    await Promise.all([before.until(1), during.until(1)])
    t.strictSame(before.got, ['one'])
    t.strictSame(during.got, ['two'])
  })

  t.test('started while Redis is down: a status listener hears false, then true once Redis is reachable', async (t) => {
    const server = await privateRedis(t)
    await server.stop()
    const bus = await redisBus(t, server.url, '', false)
    const told: boolean[] = []
    bus.onStatus((up) => told.push(up))
    await nextStatus(bus, false)
    await t.rejects(bus.publish('run:1', 'lost'))
    await t.rejects(bus.ping())
    const c = collector()
    await bus.subscribe('run:1', c.listener)

    const back = nextStatus(bus, true)
    await server.start()
    await back
    t.strictSame(told, [false, true])
    await rawClient(t, server.url).publish('run:1', 'hello')
    await c.until(1)
    t.strictSame(c.got, ['hello'])
  })
})
