import type { Insertable, Selectable } from 'kysely'
import { Errors } from '../errors.js'
import type { UsageRecord } from '../tools/usage-data.js'
import type { Database } from './database.js'
import type { Message, Run, RunStatus, Thread } from './types.js'

type Row<T extends keyof Database> = Database[T]

export function toThread (r: Row<'threads'>): Thread {
  return {
    thread_id: r.thread_id,
    user_id: r.user_id,
    title: r.title,
    created_at: r.created_at,
    updated_at: r.updated_at,
    active_run_id: r.active_run_id
  }
}

export function toMessage (r: Row<'messages'>): Message {
  return {
    message_id: r.message_id,
    thread_id: r.thread_id,
    role: r.role,
    content: r.content,
    run_id: r.run_id,
    created_at: r.created_at
  }
}

export function toRun (r: Selectable<Database['runs']>): Run {
  return {
    run_id: r.run_id,
    thread_id: r.thread_id,
    user_id: r.user_id,
    agent: r.agent,
    status: r.status as RunStatus,
    input: parseJson(r.input),
    created_at: r.created_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
    result: parseJson(r.result),
    error: parseJson(r.error),
    last_seq: r.last_seq
  }
}

export function toJson (value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value)
}

function parseJson<T> (text: string | null): T | null {
  return text === null ? null : JSON.parse(text)
}

/** The content's first 80 characters on one line; counted in code points so no pair is split. */
export function threadTitle (content: string): string {
  return Array.from(content.replace(/\s+/g, ' ').trim()).slice(0, 80).join('').trimEnd()
}

export function encodeCursor (t: Thread): string {
  return Buffer.from(JSON.stringify([t.updated_at, t.thread_id])).toString('base64url')
}

export function decodeCursor (cursor: string): [string, string] {
  let key: unknown
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    key = undefined
  }
  if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'string' && typeof key[1] === 'string') {
    return [key[0], key[1]]
  }
  throw new Errors.InvalidRequest('invalid cursor')
}

export function toUsageRow (userId: string, r: UsageRecord): Insertable<Database['usage_records']> {
  return {
    user_id: userId,
    request_id: r.request_id,
    timestamp: r.timestamp,
    provider: r.provider,
    model: r.model,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    cached_tokens: r.cached_tokens ?? null,
    cost_usd: r.cost_usd,
    latency_ms: r.latency_ms ?? null,
    feature: r.feature ?? null,
    prompt_hash: r.prompt_hash ?? null,
    requests: r.requests ?? null
  }
}

/** A stored record as it was imported: absent optional fields stay absent. */
export function toUsageRecord (r: Selectable<Database['usage_records']>): UsageRecord {
  return {
    timestamp: r.timestamp,
    provider: r.provider,
    model: r.model,
    input_tokens: Number(r.input_tokens),
    output_tokens: Number(r.output_tokens),
    ...(r.cached_tokens !== null && { cached_tokens: Number(r.cached_tokens) }),
    cost_usd: r.cost_usd,
    ...(r.latency_ms !== null && { latency_ms: r.latency_ms }),
    ...(r.feature !== null && { feature: r.feature }),
    request_id: r.request_id,
    ...(r.prompt_hash !== null && { prompt_hash: r.prompt_hash }),
    ...(r.requests !== null && { requests: r.requests })
  }
}
