/**
 * The bench's agent, a normal agent module: AGENT_MODULES=bench/bench-agent.mjs.
 * `bench` emits `n` agent_thinking events whose thought is "<i> <emit time, epoch ms>", so a
 * client computes emit→receive. Flat out it yields to the event loop every `yield_every` events
 * (an agent streaming tokens awaits between them); paced it emits one event every `interval_ms`.
 * With `gate` it waits until the bench opens that gate file (every socket is subscribed by then)
 * and starts at the gate's `start_at` + `phase_ms`; with `split` and `resume_gate` it emits
 * `split` events, then waits for the second gate before the rest.
 */
import { waitGate } from './lib/gate.mjs'

const wallMs = () => performance.timeOrigin + performance.now()

/** Resolves at `at` (epoch ms), at once if that is past; rejects when the signal aborts. */
function sleepUntil (at, signal) {
  const ms = at - wallMs()
  if (signal.aborted) return Promise.reject(signal.reason)
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onAbort = () => { clearTimeout(timer); reject(signal.reason) }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** The gate, or the signal's reason once it aborts (a cancelled run never waits for the bench). */
function gate (file, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    waitGate(file).then(resolve)
  })
}

const yieldNow = () => new Promise((resolve) => setImmediate(resolve))

export default {
  agents: [{
    name: 'bench',
    description: 'Emits `n` agent_thinking events stamped with their emit time, flat out or paced (bench/).',
    input_schema: {
      type: 'object',
      properties: {
        n: { type: 'integer', minimum: 0, maximum: 10_000_000 },
        /** 0: flat out; else one event every interval_ms, on a fixed schedule from the start */
        interval_ms: { type: 'number', minimum: 0, maximum: 60_000 },
        /** flat out: yield to the event loop after this many events */
        yield_every: { type: 'integer', minimum: 1, maximum: 10_000_000 },
        gate: { type: 'string' },
        phase_ms: { type: 'number', minimum: 0 },
        split: { type: 'integer', minimum: 0 },
        resume_gate: { type: 'string' }
      },
      additionalProperties: false
    },
    timeout_ms: 3_600_000,
    async run (ctx, input) {
      const n = input.n ?? 10
      const interval = input.interval_ms ?? 0
      const yieldEvery = input.yield_every ?? 1
      if (input.gate) await sleepUntil((await gate(input.gate, ctx.signal)).start_at + (input.phase_ms ?? 0), ctx.signal)
      let start = wallMs()
      for (let i = 1; i <= n; i++) {
        if (input.split && i === input.split + 1 && input.resume_gate) {
          await sleepUntil((await gate(input.resume_gate, ctx.signal)).start_at, ctx.signal)
          start = wallMs() - (i - 1) * interval
        }
        if (interval > 0) await sleepUntil(start + (i - 1) * interval, ctx.signal)
        else if (i % yieldEvery === 0) await yieldNow()
        if (ctx.signal.aborted) throw ctx.signal.reason
        ctx.think(`${i} ${wallMs().toFixed(3)}`)
      }
      return { n }
    }
  }]
}
