import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import type { App } from '../../src/app.js'
import { build } from './app.js'

interface Tap { teardown (fn: () => unknown): void }

/** Upper bound of every wait in these tests: a hang fails with a message instead of the suite timeout. */
export const WAIT_MS = 10_000

export const SLOW_AGENTS = './test/fixtures/slow-agents.mjs'
export const TERMINAL = new Set(['run_completed', 'run_failed', 'run_cancelled'])

/** A frame as received: a run event (with `seq`) or a reply frame. */
export interface Frame {
  type: string
  reply_to?: unknown
  seq?: number
  run_id?: string
  thread_id?: string
  user_id?: string
  data?: any
  [key: string]: unknown
}

export interface Server { app: App, url: string, wsUrl: string, host: string }

/**
 * The app listening on a free port of 127.0.0.1; closed at teardown by build(). Running runs get
 * no grace period at close, so a test that leaves one running does not hold the teardown.
 */
export async function listen (t: Tap, env: Record<string, string> = {}): Promise<Server> {
  const app = await build(t, { SHUTDOWN_GRACE_MS: '0', ...env })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const host = `127.0.0.1:${port}`
  return { app, url: `http://${host}`, wsUrl: `ws://${host}/ws`, host }
}

export interface Client {
  readonly ws: WebSocket
  /** every frame received, in order, from the moment the socket was made */
  readonly frames: Frame[]
  /** resolves on open; rejects if the upgrade fails */
  readonly opened: Promise<void>
  /** resolves with the close code and reason, whoever closed */
  readonly closed: Promise<{ code: number, reason: string }>
  /** number of pings received from the server */
  readonly pings: number
  send (frame: unknown): void
  /** the first frame at index ≥ `from` matching `predicate`, now or when it arrives (re-checked on pings too) */
  waitFor (predicate: (f: Frame) => boolean, what: string, opts?: { from?: number, timeoutMs?: number }): Promise<Frame>
  /** resolves once `condition()` holds, re-checked on every frame and ping */
  waitUntil (condition: () => boolean, what: string, timeoutMs?: number): Promise<void>
  /** sends a ping with a fresh id and waits for its pong: every frame sent before it has arrived */
  barrier (): Promise<void>
  /** this run's events received so far, in arrival order */
  events (runId: string): Frame[]
  /** waits for the run's terminal event and returns the run's events received */
  runEnd (runId: string, timeoutMs?: number): Promise<Frame[]>
  close (): void
  terminate (): void
}

let barriers = 0

/** Opens a real `ws` client; frames are collected from creation; terminated at teardown. */
export function connect (t: Tap, url: string, headers: Record<string, string> = {}, options: WebSocket.ClientOptions = {}): Client {
  const ws = new WebSocket(url, { headers, ...options })
  const frames: Frame[] = []
  const waiters = new Set<() => void>()
  let closedWith: { code: number, reason: string } | undefined
  let pings = 0

  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res: IncomingMessage) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
    ws.once('error', reject)
  })
  opened.catch(() => {})
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    ws.once('close', (code, reason) => {
      closedWith = { code, reason: reason.toString() }
      resolve(closedWith)
      for (const w of [...waiters]) w()
    })
  })
  ws.on('error', () => {})
  ws.on('ping', () => {
    pings++
    for (const w of [...waiters]) w()
  })
  ws.on('message', (data, isBinary) => {
    const text = data.toString()
    frames.push(isBinary ? { type: '<binary>', data: text } : JSON.parse(text))
    for (const w of [...waiters]) w()
  })

  /** `test` returns a value to resolve with, or undefined to wait for the next frame, ping or close */
  const waitFor = <T>(test: () => T | undefined, what: string, timeoutMs = WAIT_MS): Promise<T> => {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = test()
        if (found !== undefined) return done(() => resolve(found))
        if (closedWith) {
          done(() => reject(new Error(`socket closed (${closedWith!.code} ${closedWith!.reason}) while waiting for ${what}; got ${describe(frames)}`)))
        }
      }
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${describe(frames)}`))), timeoutMs)
      const done = (settle: () => void) => { clearTimeout(timer); waiters.delete(check); settle() }
      waiters.add(check)
      check()
    })
  }

  const events = (runId: string) => frames.filter((f) => f.run_id === runId && typeof f.seq === 'number')

  const frameMatching: Client['waitFor'] = (predicate, what, opts = {}) => {
    let scanned = opts.from ?? 0
    return waitFor(() => {
      for (; scanned < frames.length; scanned++) if (predicate(frames[scanned])) return frames[scanned]
      return undefined
    }, what, opts.timeoutMs)
  }

  const client: Client = {
    ws,
    frames,
    opened,
    closed,
    get pings () { return pings },
    send (frame) { ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)) },
    waitFor: frameMatching,
    async waitUntil (condition, what, timeoutMs) {
      await waitFor(() => condition() || undefined, what, timeoutMs)
    },
    async barrier () {
      const id = `barrier-${++barriers}`
      client.send({ type: 'ping', id })
      await frameMatching((f) => f.type === 'pong' && f.reply_to === id, `pong ${id}`)
    },
    events,
    async runEnd (runId, timeoutMs) {
      await frameMatching((f) => f.run_id === runId && TERMINAL.has(f.type) && typeof f.seq === 'number', `the end of run ${runId}`, { timeoutMs })
      return events(runId)
    },
    close () { ws.close() },
    terminate () { ws.terminate() }
  }
  t.teardown(() => ws.terminate())
  return client
}

/** Opens a client and waits for its `connection_established` frame. */
export async function connected (t: Tap, url: string, headers: Record<string, string> = {}, options: WebSocket.ClientOptions = {}): Promise<Client> {
  const client = connect(t, url, headers, options)
  await client.opened
  await client.waitFor((f) => f.type === 'connection_established', 'connection_established')
  return client
}

/** An upgrade the server must refuse: resolves with its HTTP status and JSON body, rejects if a socket opens. */
export function refusedUpgrade (url: string, headers: Record<string, string> = {}): Promise<{ statusCode: number | undefined, body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no answer to the upgrade of ${url} after ${WAIT_MS} ms`)) }, WAIT_MS)
    ws.on('error', (err) => { clearTimeout(timer); reject(err) })
    ws.on('open', () => { clearTimeout(timer); ws.terminate(); reject(new Error(`the upgrade of ${url} was accepted`)) })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        clearTimeout(timer)
        ws.removeAllListeners('error')
        ws.on('error', () => {})
        ws.terminate()
        try { resolve({ statusCode: res.statusCode, body: body ? JSON.parse(body) : undefined }) } catch (err) { reject(err) }
      })
    })
  })
}

/** Polls `fn` until it returns a value other than undefined, for at most WAIT_MS. */
export async function until<T> (fn: () => Promise<T | undefined>, what: string, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The types the `slow` fixture agent emits for `steps` steps, in order. */
export function slowRunTypes (steps: number): string[] {
  const step = ['agent_thinking', 'tool_executing', 'tool_progress', 'tool_progress', 'tool_completed']
  return ['agent_started', ...Array.from({ length: steps }, () => step).flat(), 'agent_completed', 'run_completed']
}

export const seqs = (events: Frame[]) => events.map((e) => e.seq)
export const types = (events: Frame[]) => events.map((e) => e.type)
/** 1..n, or from..to */
export const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

function describe (frames: Frame[]): string {
  const last = frames.slice(-8).map((f) => f.seq === undefined ? f.type : `${f.type}#${f.seq}`)
  return `${frames.length} frames${frames.length ? `, last: ${last.join(', ')}` : ''}`
}
