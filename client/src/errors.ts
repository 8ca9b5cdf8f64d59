import type { ErrorBody, RunEventOf } from './wire.js'

/** The stable error codes of the contract (docs/contract.md, §2). */
export type ContractErrorCode =
  | 'invalid_request' | 'unknown_agent' | 'unauthorized' | 'forbidden_origin' | 'not_found'
  | 'thread_busy' | 'interrupt_closed' | 'payload_too_large' | 'rate_limited' | 'unavailable' | 'internal'

/**
 * A contract code, or one of the client's own: `network` (the server could not be reached),
 * `closed` (the client was closed while waiting), `protocol` (the server answered something the
 * contract does not allow). A failed run's error carries its run's code (`timeout`, `interrupted`, …).
 */
export type ErrorCode = ContractErrorCode | 'network' | 'closed' | 'protocol' | (string & {})

export interface AgentwireErrorOptions {
  /** HTTP status, when the error came in an HTTP answer */
  status?: number
  /** seconds to wait before trying again (`rate_limited`, from `Retry-After`) */
  retryAfter?: number
  /** per-line reasons of a refused usage upload */
  errors?: Array<{ line: number, reason: string }>
  cause?: unknown
}

/** Every error the client throws or rejects with; `code` is stable, `message` is for people. */
export class AgentwireError extends Error {
  override name = 'AgentwireError'
  readonly code: ErrorCode
  readonly status?: number
  readonly retryAfter?: number
  readonly errors?: Array<{ line: number, reason: string }>

  constructor (code: ErrorCode, message: string, opts: AgentwireErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.code = code
    if (opts.status !== undefined) this.status = opts.status
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter
    if (opts.errors !== undefined) this.errors = opts.errors
  }
}

/** `run.result()` of a run that ended `run_failed`: `code` is the run's error code. */
export class RunFailedError extends AgentwireError {
  override name = 'RunFailedError'
  readonly runId: string
  readonly error: ErrorBody
  constructor (readonly event: RunEventOf<'run_failed'>) {
    super(event.data.error.code, event.data.error.message)
    this.runId = event.run_id
    this.error = event.data.error
  }
}

/** `run.result()` of a run that ended `run_cancelled`; `code` is `cancelled`. */
export class RunCancelledError extends AgentwireError {
  override name = 'RunCancelledError'
  readonly runId: string
  readonly reason: string
  constructor (readonly event: RunEventOf<'run_cancelled'>) {
    super('cancelled', `run cancelled: ${event.data.reason}`)
    this.runId = event.run_id
    this.reason = event.data.reason
  }
}

/** The error of an HTTP error answer (`{statusCode, code, error, message}`), whatever its body. */
export function errorFromResponse (status: number, body: unknown, retryAfterHeader: string | null): AgentwireError {
  const b = (body && typeof body === 'object' ? body : {}) as { code?: unknown, message?: unknown, errors?: unknown }
  const code = typeof b.code === 'string' ? b.code : codeOfStatus(status)
  const message = typeof b.message === 'string' ? b.message : `HTTP ${status}`
  const retryAfter = retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader.trim()) ? Number(retryAfterHeader) : undefined
  return new AgentwireError(code, message, {
    status,
    ...(retryAfter !== undefined && { retryAfter }),
    ...(Array.isArray(b.errors) && { errors: b.errors as Array<{ line: number, reason: string }> })
  })
}

const BY_STATUS: Record<number, ContractErrorCode> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden_origin',
  404: 'not_found',
  409: 'thread_busy',
  413: 'payload_too_large',
  429: 'rate_limited',
  500: 'internal',
  503: 'unavailable'
}

/** A proxy's answer has no contract body: its status still says what happened. */
export function codeOfStatus (status: number): ErrorCode {
  return BY_STATUS[status] ?? (status > 500 ? 'unavailable' : 'protocol')
}
