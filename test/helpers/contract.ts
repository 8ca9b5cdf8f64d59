import type { RunEvent } from '../../src/core/events.js'

interface Tap { strictSame (found: unknown, wanted: unknown, message: string): boolean }

const TERMINAL = new Set(['run_completed', 'run_failed', 'run_cancelled'])

/** The final answer as the store keeps it: a string result, or its `answer`, else its JSON. */
const answerOf = (result: unknown) => typeof result === 'string'
  ? result
  : typeof (result as { answer?: unknown })?.answer === 'string' ? (result as { answer: string }).answer : JSON.stringify(result)

/**
 * Every way `events` (one run's, in the order a client got them) breaks CONTRACT §5 rules 3–4 and
 * §5.6–5.7 (every `input_requested` closed by exactly one `input_received`; `answer_delta`s only
 * while the run is live, adding up to exactly the answer of a completed run), plus contiguous seq
 * from 1 and one run/user/thread throughout, and the root agent's `agent_completed` without a `result`
 * (the run's result is in `run_completed` alone). Empty when it keeps them all.
 */
export function runContractViolations (events: readonly RunEvent[]): string[] {
  const problems: string[] = []
  if (events.length === 0) return ['the run has no events']
  const { run_id, user_id, thread_id } = events[0]
  const openAgents = new Map<string, number>()
  const lastAttempt = new Map<string, number>()
  const openTools = new Map<string, string>()
  const terminals: number[] = []
  const openInputs = new Map<string, string>()
  const roots = new Set<string>()
  const askedInputs = new Set<string>()
  let streamed: string | undefined

  events.forEach((e, i) => {
    const at = `event ${i} (${e.type} seq ${e.seq})`
    if (e.seq !== i + 1) problems.push(`${at}: seq should be ${i + 1}`)
    if (e.run_id !== run_id || e.user_id !== user_id || e.thread_id !== thread_id) problems.push(`${at}: ids differ from the first event's`)
    if (TERMINAL.has(e.type)) terminals.push(i)
    const d = e.data as { agent_id?: string, attempt?: number, tool_call_id?: string, parent_agent_id?: string, interrupt_id?: string, by?: string, delta?: string, reset?: boolean, error?: { code: string } }
    switch (e.type) {
      case 'input_requested':
        if (!openAgents.has(d.agent_id!)) problems.push(`${at}: agent ${d.agent_id} is not running`)
        if (askedInputs.has(d.interrupt_id!)) problems.push(`${at}: interrupt ${d.interrupt_id} was asked before`)
        askedInputs.add(d.interrupt_id!)
        openInputs.set(d.interrupt_id!, d.agent_id!)
        break
      case 'input_received':
        if (!openInputs.has(d.interrupt_id!)) problems.push(`${at}: interrupt ${d.interrupt_id} is not open`)
        else openInputs.delete(d.interrupt_id!)
        if (d.by !== 'cancel' && !openAgents.has(d.agent_id!)) problems.push(`${at}: agent ${d.agent_id} is not running`)
        break
      case 'answer_delta':
        if (d.agent_id !== undefined && !openAgents.has(d.agent_id)) problems.push(`${at}: agent ${d.agent_id} is not running`)
        streamed = d.reset ? d.delta! : (streamed ?? '') + d.delta!
        break
      case 'agent_started': {
        const agentId = d.agent_id!
        if (openAgents.has(agentId)) problems.push(`${at}: agent ${agentId} is already running`)
        const expected = (lastAttempt.get(agentId) ?? 0) + 1
        if (d.attempt !== expected) problems.push(`${at}: attempt ${d.attempt} should be ${expected}`)
        if (d.parent_agent_id !== undefined && !lastAttempt.has(d.parent_agent_id)) problems.push(`${at}: parent ${d.parent_agent_id} never started`)
        if (d.parent_agent_id === undefined) roots.add(agentId)
        openAgents.set(agentId, d.attempt!)
        lastAttempt.set(agentId, d.attempt!)
        break
      }
      case 'agent_completed':
      case 'agent_error':
        if (openAgents.get(d.agent_id!) !== d.attempt) problems.push(`${at}: agent ${d.agent_id} attempt ${d.attempt} is not open`)
        else openAgents.delete(d.agent_id!)
        // only an interrupted attempt leaves its interrupt open, for the next attempt to wait on
        if (d.error?.code !== 'interrupted' && [...openInputs.values()].includes(d.agent_id!)) problems.push(`${at}: agent ${d.agent_id} ends with an open interrupt`)
        // the run's result travels once, in run_completed
        if (e.type === 'agent_completed' && roots.has(d.agent_id!) && 'result' in e.data) problems.push(`${at}: the root agent's agent_completed carries a result`)
        break
      case 'agent_thinking':
        if (!openAgents.has(d.agent_id!)) problems.push(`${at}: agent ${d.agent_id} is not running`)
        break
      case 'tool_executing':
        if (!openAgents.has(d.agent_id!)) problems.push(`${at}: agent ${d.agent_id} is not running`)
        if (openTools.has(d.tool_call_id!)) problems.push(`${at}: tool call ${d.tool_call_id} is already open`)
        openTools.set(d.tool_call_id!, d.agent_id!)
        break
      case 'tool_progress':
      case 'tool_completed':
        if (openTools.get(d.tool_call_id!) !== d.agent_id) problems.push(`${at}: tool call ${d.tool_call_id} is not open`)
        else if (e.type === 'tool_completed') openTools.delete(d.tool_call_id!)
        break
    }
  })

  if (terminals.length !== 1) problems.push(`${terminals.length} terminal events`)
  if (!TERMINAL.has(events.at(-1)!.type)) problems.push(`the last event is ${events.at(-1)!.type}, not a terminal one`)
  for (const [agentId, attempt] of openAgents) problems.push(`agent ${agentId} attempt ${attempt} is never closed`)
  for (const toolCallId of openTools.keys()) problems.push(`tool call ${toolCallId} is never completed`)
  for (const interruptId of openInputs.keys()) problems.push(`interrupt ${interruptId} is never closed`)
  const last = events.at(-1)!
  if (last.type === 'run_completed' && streamed !== undefined && streamed !== answerOf((last.data as { result: unknown }).result)) {
    problems.push('the answer_delta events do not add up to the answer')
  }
  return problems
}

/** Asserts CONTRACT §5 rules 3–4 on one run's events, as one assertion listing every violation. */
export function assertRunContract (t: Tap, events: readonly RunEvent[]): boolean {
  return t.strictSame(runContractViolations(events), [], 'the run keeps CONTRACT §5 rules 3–4')
}
