import { AgentwireError, errorFromResponse } from './errors.js'
import type { TokenSource } from './token.js'
import type { Multitask, RunEvent } from './wire.js'

export type RunStatus = 'queued' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled'

/** The answer to an interrupt (`input_requested`): a decision for an approval, an `answer` for a question. */
export type ResumeBody =
  | { interrupt_id: string, decision: 'approve' | 'reject', reason?: string, arguments?: Record<string, unknown> }
  | { interrupt_id: string, answer: unknown }

/** What `POST /messages` answers. */
export interface Accepted {
  message_id: string
  thread_id: string
  run_id: string
  status: 'queued' | 'running'
}

export interface MessageBody {
  content: string
  thread_id?: string
  agent?: string
  input?: Record<string, unknown>
  multitask?: Multitask
}

/** `GET /runs/:run_id` */
export interface RunInfo {
  run_id: string
  thread_id: string
  agent: string
  status: RunStatus
  created_at: string
  started_at?: string
  finished_at?: string
  result?: unknown
  error?: { code: string, message: string }
}

export interface Thread {
  thread_id: string
  title: string
  created_at: string
  updated_at: string
  active_run_id: string | null
}

export interface ThreadMessage {
  message_id: string
  role: 'user' | 'assistant'
  content: string
  run_id: string | null
  created_at: string
}

export interface UsageUpload { inserted: number, duplicates: number, total_rows: number }
export type UsageFormat = 'csv' | 'ndjson' | 'json'

const MEDIA: Record<UsageFormat, string> = { csv: 'text/csv', ndjson: 'application/x-ndjson', json: 'application/json' }

export interface RequestOptions {
  body?: unknown
  /** a body sent as is, with this content type */
  raw?: { body: string, type: string }
  query?: Record<string, string | number | undefined>
  /** false: no Authorization header (public routes) */
  auth?: boolean
  signal?: AbortSignal
}

/** The REST routes the client uses, with the contract's errors as `AgentwireError`. */
export class AgentwireHttp {
  constructor (
    readonly baseUrl: string,
    private readonly tokens: TokenSource,
    private readonly fetchImpl: typeof fetch
  ) {}

  /** One request; a refused token is refreshed (when a getter was given) and the request sent once more. */
  async request<T> (method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const auth = opts.auth ?? true
    let token = auth ? await this.tokens.get() : undefined
    for (let attempt = 1; ; attempt++) {
      const res = await this.send(method, path, opts, token)
      if (res.status === 401 && auth && attempt === 1 && this.tokens.refreshable) {
        await res.body?.cancel()
        token = await this.tokens.refresh()
        continue
      }
      const text = await res.text()
      let body: unknown
      try { body = text === '' ? undefined : JSON.parse(text) } catch { body = undefined }
      if (!res.ok) throw errorFromResponse(res.status, body, res.headers.get('retry-after'))
      if (body === undefined && text !== '') throw new AgentwireError('protocol', `${method} ${path} answered ${res.status} with a body that is not JSON`, { status: res.status })
      return body as T
    }
  }

  private async send (method: string, path: string, opts: RequestOptions, token: string | undefined): Promise<Response> {
    const url = new URL(path, this.baseUrl)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    let body: string | undefined
    if (opts.raw) {
      headers['content-type'] = opts.raw.type
      body = opts.raw.body
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.body)
    }
    try {
      return await this.fetchImpl(url, { method, headers, body, signal: opts.signal })
    } catch (err) {
      if (opts.signal?.aborted) throw err
      throw new AgentwireError('network', `${method} ${url.origin}${url.pathname}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** `POST /messages`: starts a run. */
  postMessage (body: MessageBody): Promise<Accepted> {
    return this.request('POST', '/messages', { body })
  }

  getRun (runId: string): Promise<RunInfo> {
    return this.request('GET', `/runs/${encodeURIComponent(runId)}`)
  }

  /** The stored events of a run with `seq > afterSeq`. */
  async runEvents (runId: string, afterSeq = 0): Promise<RunEvent[]> {
    const { events } = await this.request<{ events: RunEvent[] }>('GET', `/runs/${encodeURIComponent(runId)}/events`, { query: { after_seq: afterSeq } })
    return events
  }

  cancelRun (runId: string): Promise<{ run_id: string, status: RunStatus }> {
    return this.request('POST', `/runs/${encodeURIComponent(runId)}/cancel`)
  }

  resumeRun (runId: string, body: ResumeBody): Promise<{ run_id: string, interrupt_id: string }> {
    return this.request('POST', `/runs/${encodeURIComponent(runId)}/resume`, { body })
  }

  listThreads (opts: { limit?: number, cursor?: string } = {}): Promise<{ threads: Thread[], next_cursor: string | null }> {
    return this.request('GET', '/threads', { query: opts })
  }

  getThread (threadId: string): Promise<Thread> {
    return this.request('GET', `/threads/${encodeURIComponent(threadId)}`)
  }

  /** `PATCH /threads/:id`: a new title (1..200 characters, not blank); resolves with the thread. */
  renameThread (threadId: string, title: string): Promise<Thread> {
    return this.request('PATCH', `/threads/${encodeURIComponent(threadId)}`, { body: { title } })
  }

  /** `DELETE /threads/:id`: the thread, its messages, runs and events, for good; `thread_busy` while a run is unfinished. */
  async deleteThread (threadId: string): Promise<void> {
    await this.request('DELETE', `/threads/${encodeURIComponent(threadId)}`)
  }

  async threadMessages (threadId: string): Promise<ThreadMessage[]> {
    const { messages } = await this.request<{ messages: ThreadMessage[] }>('GET', `/threads/${encodeURIComponent(threadId)}/messages`)
    return messages
  }

  async agents (): Promise<Array<{ name: string, description: string, input_schema?: unknown }>> {
    const { agents } = await this.request<{ agents: Array<{ name: string, description: string, input_schema?: unknown }> }>('GET', '/agents')
    return agents
  }

  /** `POST /usage`: a refused upload rejects with `invalid_request` and `errors: [{line, reason}]`. */
  uploadUsage (body: string, format: UsageFormat): Promise<UsageUpload> {
    return this.request('POST', '/usage', { raw: { body, type: MEDIA[format] } })
  }

  /** `POST /ws-tickets`: a single-use ticket for `/ws?ticket=` (browsers cannot send headers). */
  async wsTicket (): Promise<string> {
    const { ticket } = await this.request<{ ticket: string }>('POST', '/ws-tickets')
    return ticket
  }

  /** `POST /auth/dev-token` of a server in dev mode (`not_found` otherwise). */
  devToken (userId: string): Promise<{ token: string, expires_at: string }> {
    return this.request('POST', '/auth/dev-token', { body: { user_id: userId }, auth: false })
  }
}
