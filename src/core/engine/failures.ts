import type { ErrorBody } from '../events.js'

/** A failure with a code from the run-event vocabulary (CONTRACT §5, §6). */
export class RunFailure extends Error {
  override name = 'RunFailure'
  readonly code: string
  /** false: retrying cannot help (validation, cancel) */
  readonly retryable: boolean

  constructor (code: string, message: string, retryable = true) {
    super(message)
    this.code = code
    this.retryable = retryable
  }
}

export const cancelled = (reason = 'cancelled') => new RunFailure('cancelled', reason, false)
/** the process running the run stops (or stopped): another one goes on with it */
export const interruption = (reason: string) => new RunFailure('interrupted', reason, true)
export const isInterruption = (err: unknown) => err instanceof RunFailure && err.code === 'interrupted' && err.retryable
export const timedOut = (what: string, ms: number) => new RunFailure('timeout', `${what} timed out after ${ms} ms`)

/** The `{code, message}` a client sees: our own codes pass, anything else is opaque. */
export function toErrorBody (err: unknown, fallback: 'agent_error' | 'tool_error' = 'agent_error'): ErrorBody {
  if (err instanceof RunFailure) return { code: err.code, message: err.message }
  const e = err as { code?: unknown, message?: unknown } | undefined
  const code = typeof e?.code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(e.code) ? e.code : fallback
  const message = typeof e?.message === 'string' && e.message ? e.message.slice(0, 1000) : fallback === 'tool_error' ? 'the tool failed' : 'the agent failed'
  return { code, message }
}

/**
 * Settles with the promise, or rejects with the signal's reason as soon as it aborts: an agent
 * or tool that ignores its signal still cannot hold a run open.
 */
export function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v) },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e) }
    )
  })
}

/** How long a run has waited for people so far, in ms: deadlines do not count that time. */
export interface WaitClock { waited (): number }

/**
 * Calls `fire` once `ms` of time not spent waiting (per `clock`) have passed. Resolves nothing;
 * `clear` stops it.
 */
export function waitAwareTimer (ms: number, fire: () => void, clock?: WaitClock) {
  const startedAt = performance.now()
  const waitedBefore = clock?.waited() ?? 0
  let timer: NodeJS.Timeout
  const arm = (delay: number) => {
    timer = setTimeout(() => {
      const left = ms + (clock ? clock.waited() - waitedBefore : 0) - (performance.now() - startedAt)
      if (left > 0) arm(left)
      else fire()
    }, delay)
    timer.unref()
  }
  arm(ms)
  return { clear () { clearTimeout(timer) } }
}

/**
 * A child AbortController that aborts with its parent and on its own deadline (time spent waiting
 * for people, per `clock`, does not count). `dispose` removes the parent listener and the timer,
 * so nothing outlives the attempt.
 */
export function deadline (parent: AbortSignal, ms: number, onTimeout: () => Error, clock?: WaitClock) {
  const controller = new AbortController()
  const onParent = () => controller.abort(parent.reason)
  if (parent.aborted) controller.abort(parent.reason)
  else parent.addEventListener('abort', onParent, { once: true })
  const timer = waitAwareTimer(ms, () => controller.abort(onTimeout()), clock)
  return {
    signal: controller.signal,
    dispose () {
      timer.clear()
      parent.removeEventListener('abort', onParent)
    }
  }
}
