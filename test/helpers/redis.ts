import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { EventBus } from '../../src/bus/types.js'

interface Tap { fail (message: string): unknown, teardown (fn: () => unknown): void }

/**
 * The shared Redis url, or undefined when Redis tests are skipped. With REQUIRE_SERVICES=1 (CI) a
 * missing TEST_REDIS_URL fails the test instead of skipping silently.
 */
export function requireRedis (t: Pick<Tap, 'fail'>): string | undefined {
  const url = process.env.TEST_REDIS_URL
  if (!url && process.env.REQUIRE_SERVICES === '1') {
    t.fail('REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set: Redis tests cannot run')
  }
  return url || undefined
}

/** A key/channel prefix of its own, so tests sharing one Redis never meet. */
export const uniquePrefix = () => `test-${randomBytes(6).toString('hex')}:`

async function freePort (): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** Answers once a PING on `port` gets PONG; false when nothing answers. */
function pong (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setTimeout(2000)
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d) => { socket.destroy(); resolve(d.toString().startsWith('+PONG')) })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => { socket.destroy(); resolve(false) })
  })
}

export interface PrivateRedis {
  url: string
  port: number
  /** stops the server (SIGTERM) and waits for it to exit */
  stop (): Promise<void>
  /** starts it again on the same port and waits until it answers */
  start (): Promise<void>
}

/**
 * Runs redis-server under a shell that stops it when its stdin closes: ending stdin stops it, and
 * so does the death of the test process, however it dies (no server outlives a killed test).
 */
const GUARD = 'exec 3<&0; redis-server "$@" 3<&- & r=$!; (read _ <&3; kill $r) & wait $r'

/**
 * A redis-server of the test's own on a free port, without persistence, so the test may stop and
 * restart it; stopped at teardown. Never the machine's shared one.
 */
export async function privateRedis (t: Tap): Promise<PrivateRedis> {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  let child: ChildProcess | undefined
  const stop = async () => {
    const c = child
    if (!c) return
    child = undefined
    const exited = once(c, 'exit')
    c.stdin!.end()
    await exited
  }
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start () {
      if (child) return
      const c = spawn('sh', ['-c', GUARD, 'sh', ...args], { stdio: ['pipe', 'ignore', 'ignore'] })
      child = c
      c.on('exit', () => { if (child === c) child = undefined })
      for (let i = 0; i < 200; i++) {
        if (await pong(port)) return
        if (!child) throw new Error(`redis-server on port ${port} exited at start`)
        await sleep(50)
      }
      throw new Error(`redis-server on port ${port} did not answer`)
    },
    stop
  }
  t.teardown(stop)
  await redis.start()
  return redis
}

/** Resolves when the bus tells `up` (a listener added now hears every change from here on). */
export function nextStatus (bus: EventBus, up: boolean): Promise<void> {
  return new Promise((resolve) => {
    const off = bus.onStatus((value) => { if (value === up) { off(); resolve() } })
  })
}

/** Resolves once the bus is live: at once when it already is, else when it tells `true`. */
export async function untilLive (bus: EventBus): Promise<void> {
  let off = () => {}
  const live = new Promise<void>((resolve) => { off = bus.onStatus((up) => { if (up) resolve() }) })
  try {
    await bus.ping()
  } catch {
    await live
  } finally {
    off()
  }
}
