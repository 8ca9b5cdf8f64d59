export const wallMs = () => performance.timeOrigin + performance.now()
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** The p-th percentile (0..100) of numbers, nearest rank. */
export function percentile (values, p) {
  if (!values.length) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

export function summary (values) {
  return { count: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: values.length ? percentile(values, 100) : NaN }
}

/** Runs `fn` over `items` with at most `limit` at once; resolves with the results in order. */
export async function pool (items, limit, fn) {
  const results = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** Resolves once `condition()` holds (checked every `everyMs`), or false after `timeoutMs`. */
export async function until (condition, timeoutMs, everyMs = 10) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) return false
    await sleep(everyMs)
  }
  return true
}
