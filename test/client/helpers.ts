import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import type { App } from '../../src/app.js'
import { AgentwireClient, type ClientOptions, type ConnectionStatus, type RunEvent } from '../../client/src/index.js'
import { auth } from '../helpers/app.js'

interface Tap { teardown (fn: () => unknown): void }

/** A seeded PRNG (mulberry32): the same seed, the same choices. */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** A `ws` WebSocket class that keeps every socket it makes, so a test can drop them from the client side. */
export function recordingWebSocket (onMessage?: (socket: WebSocket, data: string) => void) {
  const sockets: WebSocket[] = []
  let blocked = false
  class Recording extends WebSocket {
    constructor (url: string, options?: WebSocket.ClientOptions) {
      if (blocked) throw new Error('the network is down (test)')
      super(url, options)
      sockets.push(this)
      // before the client's own listener: a test may drop the socket as a frame arrives
      if (onMessage) this.on('message', (data) => onMessage(this, data.toString()))
    }
  }
  return {
    Recording,
    sockets,
    current: () => sockets.filter((s) => s.readyState === WebSocket.OPEN),
    /** while blocked, every new socket fails at once, as with no network */
    block (on: boolean) { blocked = on }
  }
}

/** A client with quick reconnects, its statuses recorded; closed at teardown. */
export function makeClient (t: Tap, opts: ClientOptions): { client: AgentwireClient, statuses: ConnectionStatus[] } {
  const statuses: ConnectionStatus[] = []
  const client = new AgentwireClient({
    reconnect: { initialDelayMs: 20, maxDelayMs: 400 },
    ...opts,
    onStatus: (s) => { statuses.push(s); opts.onStatus?.(s) }
  })
  t.teardown(() => client.close())
  return { client, statuses }
}

/** GET /runs/:id/events of a user, straight from the app. */
export async function stored (app: App, user: string, runId: string): Promise<RunEvent[]> {
  const res = await app.inject({ url: `/runs/${runId}/events`, headers: auth(user) })
  if (res.statusCode !== 200) throw new Error(`GET /runs/${runId}/events answered ${res.statusCode}`)
  return res.json().events
}

export async function collect (events: AsyncIterable<RunEvent>, onEvent?: (e: RunEvent, i: number) => void): Promise<RunEvent[]> {
  const out: RunEvent[] = []
  for await (const e of events) {
    out.push(e)
    onEvent?.(e, out.length)
  }
  return out
}

/** The server side of a client socket: the server socket whose peer port is the client's local port. */
export function serverSocketOf (app: App, clientSocket: WebSocket): WebSocket | undefined {
  const port = (clientSocket as unknown as { _socket?: { localPort?: number } })._socket?.localPort
  return [...app.websocketServer.clients].find((s) => (s as unknown as { _socket?: { remotePort?: number } })._socket?.remotePort === port) as WebSocket | undefined
}

export const portOf = (app: App) => (app.server.address() as AddressInfo).port
