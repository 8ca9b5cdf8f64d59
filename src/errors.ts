import createError from '@fastify/error'

/** The stable error codes of CONTRACT §2: one constructor each, `new Errors.NotFound('run')`. */
export const Errors = {
  InvalidRequest: createError('invalid_request', '%s', 400),
  UnknownAgent: createError('unknown_agent', 'no agent named "%s"', 400),
  Unauthorized: createError('unauthorized', '%s', 401),
  ForbiddenOrigin: createError('forbidden_origin', 'origin not allowed', 403),
  NotFound: createError('not_found', '%s not found', 404),
  ThreadBusy: createError('thread_busy', 'a run is active on this thread', 409),
  PayloadTooLarge: createError('payload_too_large', '%s', 413),
  RateLimited: createError('rate_limited', '%s', 429),
  Unavailable: createError('unavailable', '%s', 503),
  Internal: createError('internal', 'internal error', 500)
}

export type ErrorCode =
  | 'invalid_request' | 'unknown_agent' | 'unauthorized' | 'forbidden_origin' | 'not_found'
  | 'thread_busy' | 'payload_too_large' | 'rate_limited' | 'unavailable' | 'internal'

/** An error that carries a stable code, thrown by the core and mapped by the transports. */
export interface CodedError extends Error { code: string, statusCode?: number }

export function isCoded (err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as CodedError).code === 'string'
}
