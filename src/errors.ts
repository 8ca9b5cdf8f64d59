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

/** The stable error codes of CONTRACT §2: one constructor each, `new Errors.NotFound('run')`. */
export const Errors = {
  InvalidRequest: coded('invalid_request', '%s', 400),
  UnknownAgent: coded('unknown_agent', 'no agent named "%s"', 400),
  Unauthorized: coded('unauthorized', '%s', 401),
  ForbiddenOrigin: coded('forbidden_origin', 'origin not allowed', 403),
  NotFound: coded('not_found', '%s not found', 404),
  ThreadBusy: coded('thread_busy', 'a run is active on this thread', 409),
  PayloadTooLarge: coded('payload_too_large', '%s', 413),
  RateLimited: coded('rate_limited', '%s', 429),
  Unavailable: coded('unavailable', '%s', 503),
  Internal: coded('internal', 'internal error', 500)
}

export type ErrorCode =
  | 'invalid_request' | 'unknown_agent' | 'unauthorized' | 'forbidden_origin' | 'not_found'
  | 'thread_busy' | 'payload_too_large' | 'rate_limited' | 'unavailable' | 'internal'

/** An error that carries a stable code, thrown by the core and mapped by the transports. */
export interface CodedError extends Error { code: string, statusCode?: number }

export function isCoded (err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as CodedError).code === 'string'
}
