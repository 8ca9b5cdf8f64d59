import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import type { App } from '../../src/app.js'
import type { RunEvent } from '../../src/core/events.js'
import { auth } from './app.js'

export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled']

export interface Accepted { message_id: string, thread_id: string, run_id: string, status: string }

export interface RunBody {
  run_id: string
  thread_id: string
  agent: string
  status: string
  created_at: string
  started_at?: string
  finished_at?: string
  result?: unknown
  error?: { code: string, message: string }
}

/** Headers of a user: a user id (signed with the test secret) or ready-made headers. */
type Who = string | Record<string, string>
const headersOf = (who: Who) => typeof who === 'string' ? auth(who) : who

/** POST /messages that must be accepted (202); resolves with the body. */
export async function postMessage (app: App, who: Who, body: Record<string, unknown>): Promise<Accepted> {
  const res = await app.inject({ method: 'POST', url: '/messages', headers: headersOf(who), payload: body })
  if (res.statusCode !== 202) throw new Error(`POST /messages answered ${res.statusCode}: ${res.body}`)
  return res.json()
}

/** Polls GET /runs/:id until a terminal status, at most `attempts` times; throws otherwise. */
export async function waitForRun (app: App, who: Who, runId: string, attempts = 1000): Promise<RunBody> {
  for (let i = 0; i < attempts; i++) {
    const res = await app.inject({ method: 'GET', url: `/runs/${runId}`, headers: headersOf(who) })
    if (res.statusCode !== 200) throw new Error(`GET /runs/${runId} answered ${res.statusCode}: ${res.body}`)
    const run = res.json() as RunBody
    if (TERMINAL_STATUSES.includes(run.status)) return run
    await sleep(5)
  }
  throw new Error(`run ${runId} did not finish after ${attempts} polls`)
}

/** GET /runs/:id/events as JSON; throws unless 200. */
export async function getEvents (app: App, who: Who, runId: string, afterSeq?: number): Promise<RunEvent[]> {
  const url = `/runs/${runId}/events${afterSeq === undefined ? '' : `?after_seq=${afterSeq}`}`
  const res = await app.inject({ method: 'GET', url, headers: headersOf(who) })
  if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}: ${res.body}`)
  return (res.json() as { events: RunEvent[] }).events
}

/** Posts a message and waits for its run to end. */
export async function runToEnd (app: App, who: Who, body: Record<string, unknown>) {
  const accepted = await postMessage(app, who, body)
  const run = await waitForRun(app, who, accepted.run_id)
  return { accepted, run }
}

export interface SseBlock { id?: string, event?: string, data?: string, comment?: string[] }

/** Splits an SSE body into its blocks (blank-line separated), keeping `:` comments apart. */
export function parseSse (body: string): SseBlock[] {
  const blocks: SseBlock[] = []
  for (const chunk of body.split('\n\n')) {
    if (chunk === '') continue
    const block: SseBlock = {}
    for (const line of chunk.split('\n')) {
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === '') (block.comment ??= []).push(value)
      else if (field === 'id' || field === 'event') block[field] = value
      else if (field === 'data') block.data = block.data === undefined ? value : `${block.data}\n${value}`
      else throw new Error(`unexpected SSE field ${JSON.stringify(field)}`)
    }
    blocks.push(block)
  }
  return blocks
}

/** The exact key set of an error body (CONTRACT §2). */
export const ERROR_KEYS = ['code', 'error', 'message', 'statusCode']

/** An ISO-8601 UTC timestamp as `Date#toISOString` writes it. */
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** An error answer of CONTRACT §2: exact status, exact body keys, `code` and `error`. */
export function assertError (t: Test, res: { statusCode: number, json (): any }, status: number, code: string, error: string) {
  t.equal(res.statusCode, status, `status ${status}`)
  const body = res.json()
  t.strictSame(Object.keys(body).sort(), ERROR_KEYS, 'error body keys are exactly statusCode, code, error, message')
  t.equal(body.statusCode, status, 'statusCode is the HTTP status')
  t.equal(body.code, code, `code ${code}`)
  t.equal(body.error, error)
  t.type(body.message, 'string')
  t.ok(body.message.length > 0, 'a message')
}
