import createError from '@fastify/error'

/** @fastify/error upper-cases codes; the contract's codes are lower-case, so put them back. */
function coded (code: ErrorCode, message: string, statusCode: number) {
  const Base = createError(code, message, statusCode)
  return class extends Base {
    constructor (...args: unknown[]) {
      super(...args)
      this.code = code
    }
  }
}

/** CONTRACT §2: every stable code and its HTTP status; the one table the transports map onto. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unknown_agent: 400,
  unauthorized: 401,
  forbidden_origin: 403,
  not_found: 404,
  thread_busy: 409,
  interrupt_closed: 409,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_STATUS, code)
}

/** The stable error codes of CONTRACT §2: one constructor each, `new Errors.NotFound('run')`. */
export const Errors = {
  InvalidRequest: coded('invalid_request', '%s', ERROR_STATUS.invalid_request),
  UnknownAgent: coded('unknown_agent', 'no agent named "%s"', ERROR_STATUS.unknown_agent),
  Unauthorized: coded('unauthorized', '%s', ERROR_STATUS.unauthorized),
  ForbiddenOrigin: coded('forbidden_origin', 'origin not allowed', ERROR_STATUS.forbidden_origin),
  NotFound: coded('not_found', '%s not found', ERROR_STATUS.not_found),
  ThreadBusy: coded('thread_busy', 'a run is active on this thread', ERROR_STATUS.thread_busy),
  InterruptClosed: coded('interrupt_closed', '%s', ERROR_STATUS.interrupt_closed),
  PayloadTooLarge: coded('payload_too_large', '%s', ERROR_STATUS.payload_too_large),
  RateLimited: coded('rate_limited', '%s', ERROR_STATUS.rate_limited),
  Unavailable: coded('unavailable', '%s', ERROR_STATUS.unavailable),
  Internal: coded('internal', 'internal error', ERROR_STATUS.internal)
}

/** An error that carries a stable code, thrown by the core and mapped by the transports. */
export interface CodedError extends Error { code: string, statusCode?: number }

export function isCoded (err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as CodedError).code === 'string'
}
