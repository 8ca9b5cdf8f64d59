import { randomUUID } from 'node:crypto'

/** The slice of pino the core uses, so the core needs no Fastify or pino import. */
export interface Logger {
  info (obj: unknown, msg?: string): void
  warn (obj: unknown, msg?: string): void
  error (obj: unknown, msg?: string): void
  debug (obj: unknown, msg?: string): void
  child (bindings: Record<string, unknown>): Logger
}

export const silentLogger: Logger = {
  info () {},
  warn () {},
  error () {},
  debug () {},
  child () { return silentLogger }
}

export class InvalidIdError extends Error {
  override name = 'InvalidIdError'
  readonly code = 'invalid_request'
}

const ID = /^[A-Za-z0-9._@:-]{1,128}$/
// ids a bug or a template left behind, not a real identity
const PLACEHOLDER = /^(undefined|null|none|nil|nan|anonymous|default|placeholder|changeme|example|unknown|user_?id|id|x+|0+|-+|\.+)$/i

/** Refuses empty, over-long, badly formed and placeholder-looking ids. */
export function validateId (kind: string, id: unknown): string {
  if (typeof id !== 'string' || !ID.test(id) || PLACEHOLDER.test(id)) {
    throw new InvalidIdError(`invalid ${kind}`)
  }
  return id
}

/** Per-run scope: bound to one user and one run, with the run's AbortSignal and cleanup. */
export interface RunScope {
  readonly user_id: string
  readonly thread_id: string
  readonly run_id: string
  readonly request_id: string
  readonly signal: AbortSignal
  readonly log: Logger
  abort (reason: Error): void
  /** registers a cleanup; they run in reverse order of registration, every one of them, once */
  onCleanup (fn: () => unknown): void
  /** runs the cleanups; errors are logged, never thrown, so every cleanup runs */
  cleanup (): Promise<void>
}

/**
 * Who is asking, built once per request (or socket) after auth, frozen. It carries isolation into
 * a run: `forRun` gives the only handle an agent run gets.
 */
export class UserExecutionContext {
  readonly user_id: string
  readonly request_id: string
  readonly connection_id?: string
  readonly log: Logger

  private constructor (o: { user_id: string, request_id: string, connection_id?: string, log: Logger }) {
    this.user_id = o.user_id
    this.request_id = o.request_id
    if (o.connection_id !== undefined) this.connection_id = o.connection_id
    this.log = o.log
    Object.freeze(this)
  }

  static create (o: { user_id: unknown, request_id?: string, connection_id?: string, log?: Logger }): UserExecutionContext {
    const user_id = validateId('user id', o.user_id)
    const request_id = validateId('request id', o.request_id ?? randomUUID())
    const connection_id = o.connection_id === undefined ? undefined : validateId('connection id', o.connection_id)
    const log = (o.log ?? silentLogger).child({ user_id, ...(connection_id ? { connection_id } : {}) })
    return new UserExecutionContext({ user_id, request_id, connection_id, log })
  }

  forRun (run: { run_id: string, thread_id: string, user_id: string }): RunScope {
    if (run.user_id !== this.user_id) throw new InvalidIdError('run belongs to another user')
    const run_id = validateId('run id', run.run_id)
    const thread_id = validateId('thread id', run.thread_id)
    const controller = new AbortController()
    const cleanups: Array<() => unknown> = []
    const log = this.log.child({ run_id, thread_id })
    let cleaned = false
    return Object.freeze({
      user_id: this.user_id,
      thread_id,
      run_id,
      request_id: this.request_id,
      signal: controller.signal,
      log,
      abort (reason: Error) { if (!controller.signal.aborted) controller.abort(reason) },
      onCleanup (fn: () => unknown) {
        if (cleaned) throw new Error('run scope already cleaned up')
        cleanups.push(fn)
      },
      async cleanup () {
        if (cleaned) return
        cleaned = true
        while (cleanups.length) {
          const fn = cleanups.pop()!
          try { await fn() } catch (err) { log.error({ err }, 'run cleanup failed') }
        }
      }
    })
  }
}
