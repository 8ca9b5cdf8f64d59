import type { ErrorBody, RunEvent } from '../events.js'

/** What the stored events say of one agent a run can pick up again: the root or a workflow step. */
export interface AgentTrace {
  agent_id: string
  /** the last attempt started */
  attempt: number
  /** attempts cut off by a lost or stopping process: each one buys an extra attempt */
  interruptions: number
  /** set when the agent is done for good: its result, or the error it failed with */
  outcome?: { result: unknown } | { error: ErrorBody }
}

/** Traces by place: `root`, or `<parent agent_id>/<step_id>` for a workflow step. */
export type ResumePlan = ReadonlyMap<string, AgentTrace>

export const traceKey = (parentAgentId: string | undefined, stepId: string | undefined) =>
  parentAgentId === undefined ? 'root' : stepId === undefined ? undefined : `${parentAgentId}/${stepId}`

/**
 * Reads a run's stored events into the places a new owner resumes from. Sub-agents called from
 * code (no step id) are not places: their caller's next attempt calls them afresh.
 */
export function resumePlan (history: readonly RunEvent[]): ResumePlan {
  const byId = new Map<string, AgentTrace>()
  const plan = new Map<string, AgentTrace>()
  for (const e of history) {
    const d = e.data as { agent_id?: string, attempt?: number, parent_agent_id?: string, step_id?: string, result?: unknown, error?: ErrorBody, retryable?: boolean }
    if (e.type === 'agent_started') {
      let trace = byId.get(d.agent_id!)
      if (!trace) {
        const key = traceKey(d.parent_agent_id, d.step_id)
        trace = { agent_id: d.agent_id!, attempt: 0, interruptions: 0 }
        byId.set(d.agent_id!, trace)
        if (key !== undefined && !plan.has(key)) plan.set(key, trace)
      }
      trace.attempt = d.attempt!
    } else if (e.type === 'agent_completed') {
      // a step's result is in its agent_completed; the root's is not (CONTRACT v1.3), but the root's
      // agent_completed is stored with run_completed, so a run that has one is over (or older, with its result)
      const trace = byId.get(d.agent_id!)
      if (trace) trace.outcome = { result: d.result }
    } else if (e.type === 'agent_error') {
      const trace = byId.get(d.agent_id!)
      if (!trace) continue
      if (d.error?.code === 'interrupted' && d.retryable) trace.interruptions++
      else if (!d.retryable) trace.outcome = { error: d.error! }
    }
  }
  return plan
}
