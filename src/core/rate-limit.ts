import { Errors } from '../errors.js'

/**
 * Per-user token bucket: `burst` requests at once, refilled at `perMinute`. In-process: with many
 * processes each one limits on its own, so the effective limit is per process.
 */
export function createRateLimiter (opts: { perMinute: number, burst: number, now?: () => number }) {
  const now = opts.now ?? Date.now
  const perMs = opts.perMinute / 60_000
  const buckets = new Map<string, { tokens: number, at: number }>()

  function level (b: { tokens: number, at: number }, t: number) {
    return Math.min(opts.burst, b.tokens + (t - b.at) * perMs)
  }

  return {
    /** takes one token or throws `rate_limited` with `retryAfter` seconds */
    take (userId: string) {
      const t = now()
      const b = buckets.get(userId) ?? { tokens: opts.burst, at: t }
      const tokens = level(b, t)
      if (tokens < 1) {
        const retryAfter = Math.max(1, Math.ceil((1 - tokens) / perMs / 1000))
        throw Object.assign(new Errors.RateLimited(`too many messages; retry in ${retryAfter} s`), { retryAfter })
      }
      buckets.set(userId, { tokens: tokens - 1, at: t })
      // a full bucket carries no state: forget it, so idle users cost no memory
      if (buckets.size > 10_000) for (const [id, x] of buckets) if (level(x, t) >= opts.burst) buckets.delete(id)
    }
  }
}
