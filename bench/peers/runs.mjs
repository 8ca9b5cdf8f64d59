import { randomUUID } from 'node:crypto'
import { waitGate } from '../lib/gate.mjs'

/**
 * The peers' stand-in for a run: the same events as the bench agent (agent_started, n ×
 * agent_thinking stamped with the emit time, agent_completed, run_completed) on the same schedule,
 * in agentwire's envelope, each serialised once. No auth, no store: a run's events are kept in
 * memory so a socket can replay them after `after_seq`.
 */
const wallMs = () => performance.timeOrigin + performance.now()
const yieldNow = () => new Promise((resolve) => setImmediate(resolve))
const sleepUntil = (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - wallMs())))

export function createRuns () {
  const runs = new Map()

  /** Starts a run of `user`; `deliver(json, run)` is called for every event, in order. */
  function start (user, input, deliver) {
    const run = { run_id: randomUUID(), thread_id: randomUUID(), user_id: user, log: [], status: 'running' }
    runs.set(run.run_id, run)
    const agent_id = randomUUID()
    const emit = (type, data) => {
      const json = JSON.stringify({ type, seq: run.log.length + 1, run_id: run.run_id, thread_id: run.thread_id, user_id: user, data: { agent_id, agent_name: 'bench', ...data, timestamp: wallMs() / 1000 } })
      run.log.push(json)
      deliver(json, run)
    }
    const n = input.n ?? 10
    const interval = input.interval_ms ?? 0
    const yieldEvery = input.yield_every ?? 1
    ;(async () => {
      if (input.gate) await sleepUntil((await waitGate(input.gate)).start_at + (input.phase_ms ?? 0))
      emit('agent_started', { message: 'Running bench', attempt: 1 })
      let begin = wallMs()
      for (let i = 1; i <= n; i++) {
        if (input.split && i === input.split + 1 && input.resume_gate) {
          await sleepUntil((await waitGate(input.resume_gate)).start_at)
          begin = wallMs() - (i - 1) * interval
        }
        if (interval > 0) await sleepUntil(begin + (i - 1) * interval)
        else if (i % yieldEvery === 0) await yieldNow()
        emit('agent_thinking', { thought: `${i} ${wallMs().toFixed(3)}` })
      }
      emit('agent_completed', { result: { n }, attempt: 1, duration_ms: 0 })
      run.status = 'completed'
      emit('run_completed', { result: { n } })
    })()
    return run
  }

  return { start, get: (runId) => runs.get(runId) }
}

/** Reads a JSON request body. */
export async function readJson (req) {
  let body = ''
  for await (const chunk of req) body += chunk
  return body ? JSON.parse(body) : {}
}

/** One line the bench waits for on stdout. */
export function announce (server) {
  console.log(`listening on http://127.0.0.1:${server.address().port}`)
}
