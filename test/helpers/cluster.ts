import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { TEST_SECRET, tokenFor } from './app.js'
import type { Frame } from './ws.js'
import { dropSchema, freshDatabaseUrl, requirePostgres } from './db.js'
import { requireRedis, uniquePrefix } from './redis.js'

const loader = '@isaacs/ts-node-temp-fork-for-pr-2009/import'

/** One agentwire server process of a test's cluster. */
export interface Node {
  url: string
  wsUrl: string
  child: ChildProcess
  pid: number
  exited: Promise<unknown>
  /** SIGTERM, and resolves once the process has exited */
  stop (): Promise<void>
}

/** Starts the real server entry in a child process on port 0; killed at teardown. */
export async function startNode (t: Test, env: Record<string, string>): Promise<Node> {
  const child = spawn(process.execPath, ['--import', loader, 'src/server.ts'], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', PORT: '0', AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit')
  // teardowns run last first: the cluster's schema is dropped only once its processes are gone
  t.teardown(async () => { child.kill('SIGKILL'); await exited })
  let out = ''
  child.stderr!.on('data', (d) => { out += d })
  for await (const chunk of child.stdout!) {
    out += chunk
    const m = /listening on (http:\/\/\S+)/.exec(out)
    if (m) {
      // the log stays readable after the test: a failing cluster test is debugged from it
      if (process.env.CLUSTER_LOG) {
        const log = createWriteStream(`${process.env.CLUSTER_LOG}.${child.pid}.log`)
        child.stdout!.pipe(log)
        child.stderr!.pipe(log)
      } else child.stdout!.resume()
      const url = m[1]!
      return {
        url,
        wsUrl: `${url.replace('http', 'ws')}/ws`,
        child,
        pid: child.pid!,
        exited,
        async stop () { child.kill('SIGTERM'); await exited }
      }
    }
  }
  throw new Error(`server did not start:\n${out}`)
}

export const headersFor = (user: string) => ({ authorization: `Bearer ${tokenFor(user)}`, 'content-type': 'application/json' })

export async function post (node: Node, user: string, path: string, body: unknown = {}): Promise<{ status: number, body: any }> {
  const res = await fetch(`${node.url}${path}`, { method: 'POST', headers: headersFor(user), body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

export async function get (node: Node, user: string, path: string): Promise<any> {
  return await (await fetch(`${node.url}${path}`, { headers: { authorization: headersFor(user).authorization } })).json()
}

/**
 * Follows a run like a careful client: on any close it reconnects to a live node and resubscribes
 * with the last seq it saw. `duplicates` counts events that arrived twice (none may).
 */
export function follow (nodes: () => Node[], user: string, runId: string) {
  const events: Frame[] = []
  let duplicates = 0
  let reconnects = 0
  let finished = false
  let socket: WebSocket | undefined
  const ended = new Promise<Frame[]>((resolve) => {
    const open = (attempt: number) => {
      if (finished) return
      const live = nodes()
      const node = live[(attempt + runId.charCodeAt(0)) % live.length]!
      const ws = socket = new WebSocket(node.wsUrl, { headers: { authorization: headersFor(user).authorization } })
      ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', run_id: runId, after_seq: events.at(-1)?.seq ?? 0 })))
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Frame
        if (f.run_id !== runId || typeof f.seq !== 'number') return
        if (f.seq <= (events.at(-1)?.seq ?? 0)) { duplicates++; return }
        events.push(f)
        if (['run_completed', 'run_failed', 'run_cancelled'].includes(f.type)) { finished = true; ws.close(); resolve(events) }
      })
      ws.on('error', () => {})
      ws.on('close', () => {
        if (finished) return
        reconnects++
        setTimeout(() => open(attempt + 1), 50)
      })
    }
    open(0)
  })
  return {
    events,
    ended,
    get duplicates () { return duplicates },
    get reconnects () { return reconnects },
    close () { finished = true; socket?.terminate() }
  }
}

/** Polls until `fn` answers something, at most `timeoutMs`. */
export async function eventually<T> (fn: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A cluster's shared settings: a fresh Postgres schema, a Redis prefix of its own, 1 s leases. */
export function cluster (t: Test, postgres: string, redis: string, extra: Record<string, string> = {}) {
  const dir = t.testdir()
  const databaseUrl = extra.DATABASE_URL ?? freshDatabaseUrl(postgres)
  t.teardown(() => dropSchema(databaseUrl))
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis, REDIS_PREFIX: uniquePrefix(), AGENT_MODULES: './test/fixtures/cluster-agents.mjs', CLUSTER_DIR: dir, LEASE_MS: '1000', ...extra }
  return {
    env,
    /** the agent bodies a run started, in order: `<agent> <pid>` */
    marks: (runId: string) => existsSync(path.join(dir, `${runId}.log`)) ? readFileSync(path.join(dir, `${runId}.log`), 'utf8').trim().split('\n') : [],
    release: (runId: string) => writeFileSync(path.join(dir, `${runId}.release`), ''),
    start: (more: Record<string, string> = {}) => startNode(t, { ...env, ...more })
  }
}

/** The Postgres and Redis urls of the many-process tests, or a skip reason. */
export function services (t: Test) {
  const postgres = requirePostgres(t)
  const redis = requireRedis(t)
  return { postgres: postgres!, redis: redis!, skip: postgres && redis ? false : 'TEST_POSTGRES_URL and TEST_REDIS_URL are not both set' }
}

export const seqsOf = (events: Array<{ seq?: number }>) => events.map((e) => e.seq)
export const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
