/**
 * One run as the page shows it, built from its events by `reduceRun`. No DOM here: the unit tests
 * (test/web/) drive it with event lists. Event types the page does not know yet are kept in
 * `other` and shown as plain entries; a new type gets its own reducer with `onEvent`.
 */

import type { InputReceivedData, InputRequestedData } from '@agentwire/client'

/** An event as it arrives: the contract's envelope, with any `type` (new ones may come). */
export interface PageEvent {
  type: string
  seq: number
  run_id: string
  thread_id: string
  data: Record<string, any>
}

export interface ErrorInfo { code: string, message: string }

/** `waiting`: an interrupt is open, the run waits for the user's answer (contract §5.6) */
export type RunStatus = 'queued' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled'
export type ToolStatus = 'running' | 'success' | 'error' | 'timeout' | 'cancelled'
export type AgentStatus = 'running' | 'completed' | 'failed' | 'retrying' | 'cancelled'

/** What happened inside an agent, in order. */
export type Step =
  | { kind: 'thought', text: string, seq: number }
  | { kind: 'tool', tool_call_id: string }
  | { kind: 'agent', agent_id: string }
  | { kind: 'attempt_failed', attempt: number, error: ErrorInfo, retryable: boolean, seq: number }
  | { kind: 'attempt', attempt: number, seq: number }
  | { kind: 'interrupt', interrupt_id: string }
  | { kind: 'event', event: PageEvent }

/** How an interrupt was closed: `input_received` (the wire's data, as the client package types it). */
export type InputReceived = Pick<InputReceivedData, 'by' | 'decision' | 'reason' | 'arguments' | 'answer'> & { seq: number }

/** A run's question to its user: an approval of a tool call, or a question with the schema of its answer. */
export type Interrupt = Omit<InputRequestedData, 'timestamp'> & {
  seq: number
  /** absent while the run waits for it */
  received?: InputReceived
}

export interface ToolCall {
  tool_call_id: string
  tool_name: string
  agent_id: string
  parameters: unknown
  status: ToolStatus
  progress?: { message: string, fraction?: number }
  /** every progress message, in order */
  progress_log: string[]
  result?: unknown
  error?: ErrorInfo
  duration_ms?: number
  started_at: number
}

export interface AgentNode {
  agent_id: string
  agent_name: string
  parent_agent_id?: string
  step_id?: string
  message: string
  attempt: number
  status: AgentStatus
  steps: Step[]
  result?: unknown
  error?: ErrorInfo
  duration_ms?: number
  started_at: number
}

export interface RunView {
  run_id: string
  thread_id: string
  /** the last seq applied: the next one expected is lastSeq + 1 */
  lastSeq: number
  status: RunStatus
  queue_position?: number
  /** agents without a parent, in start order */
  roots: string[]
  agents: Record<string, AgentNode>
  tools: Record<string, ToolCall>
  interrupts: Record<string, Interrupt>
  /** the answer as text (Markdown), once known; a streamed answer appends to it */
  answer?: string
  result?: unknown
  error?: ErrorInfo
  cancel_reason?: string
  started_at?: number
  finished_at?: number
  /** events of types this page has no reducer for, in order */
  other: PageEvent[]
}

export type Reducer = (view: RunView, event: PageEvent) => void

export function newRun (run_id: string, thread_id: string): RunView {
  return { run_id, thread_id, lastSeq: 0, status: 'running', roots: [], agents: {}, tools: {}, interrupts: {}, other: [] }
}

export const TERMINAL = new Set(['run_completed', 'run_failed', 'run_cancelled'])
export const isFinished = (view: RunView) => view.status === 'completed' || view.status === 'failed' || view.status === 'cancelled'
/** The interrupts the run waits on, oldest first. */
export const openInterrupts = (view: RunView): Interrupt[] => Object.values(view.interrupts).filter((i) => !i.received).sort((a, b) => a.seq - b.seq)

/** The answer text of a run's result: the result if it is a string, else its `answer`, else its JSON (as the messages route does). */
export function answerOf (result: unknown): string {
  if (typeof result === 'string') return result
  if (result && typeof result === 'object' && typeof (result as { answer?: unknown }).answer === 'string') return (result as { answer: string }).answer
  return '```json\n' + JSON.stringify(result, null, 2) + '\n```'
}

/** Where an event goes: the agent it belongs to, or the run itself. */
function place (view: RunView, agentId: unknown, step: Step) {
  const agent = typeof agentId === 'string' ? view.agents[agentId] : undefined
  if (agent) agent.steps.push(step)
  else if (step.kind === 'event') view.other.push(step.event)
}

const reducers: Record<string, Reducer> = {
  run_queued (view, { data }) {
    view.status = 'queued'
    view.queue_position = data.position
  },
  agent_started (view, { seq, data }) {
    if (view.status === 'queued') view.status = 'running'
    view.started_at ??= data.timestamp
    const known = view.agents[data.agent_id]
    if (known) {
      // a retry (or a takeover's next attempt): same agent, next attempt
      known.attempt = data.attempt
      known.status = 'running'
      known.message = data.message
      delete known.error
      known.steps.push({ kind: 'attempt', attempt: data.attempt, seq })
      return
    }
    view.agents[data.agent_id] = {
      agent_id: data.agent_id,
      agent_name: data.agent_name,
      ...(data.parent_agent_id !== undefined && { parent_agent_id: data.parent_agent_id }),
      ...(data.step_id !== undefined && { step_id: data.step_id }),
      message: data.message,
      attempt: data.attempt,
      status: 'running',
      steps: [],
      started_at: data.timestamp
    }
    const parent = data.parent_agent_id !== undefined ? view.agents[data.parent_agent_id] : undefined
    if (parent) parent.steps.push({ kind: 'agent', agent_id: data.agent_id })
    else view.roots.push(data.agent_id)
  },
  agent_thinking (view, { seq, data }) {
    place(view, data.agent_id, { kind: 'thought', text: data.thought, seq })
  },
  tool_executing (view, { data }) {
    view.tools[data.tool_call_id] = {
      tool_call_id: data.tool_call_id,
      tool_name: data.tool_name,
      agent_id: data.agent_id,
      parameters: data.parameters,
      status: 'running',
      progress_log: [],
      started_at: data.timestamp
    }
    place(view, data.agent_id, { kind: 'tool', tool_call_id: data.tool_call_id })
  },
  tool_progress (view, { data }) {
    const tool = view.tools[data.tool_call_id]
    if (!tool) return
    tool.progress = { message: data.message, ...(typeof data.progress === 'number' && { fraction: data.progress }) }
    tool.progress_log.push(data.message)
  },
  tool_completed (view, { data }) {
    const tool = view.tools[data.tool_call_id]
    if (!tool) return
    tool.status = data.status
    tool.duration_ms = data.duration_ms
    if (data.status === 'success') tool.result = data.result
    if (data.error) tool.error = data.error
  },
  input_requested (view, { seq, data }) {
    view.interrupts[data.interrupt_id] = {
      interrupt_id: data.interrupt_id,
      kind: data.kind,
      agent_id: data.agent_id,
      agent_name: data.agent_name,
      ...(data.tool_name !== undefined && { tool_name: data.tool_name }),
      ...(data.tool_call_id !== undefined && { tool_call_id: data.tool_call_id }),
      ...(data.arguments !== undefined && { arguments: data.arguments }),
      ...(data.question !== undefined && { question: data.question }),
      schema: data.schema,
      expires_at: data.expires_at,
      seq
    }
    if (!isFinished(view)) view.status = 'waiting'
    place(view, data.agent_id, { kind: 'interrupt', interrupt_id: data.interrupt_id })
  },
  input_received (view, { seq, data }) {
    const interrupt = view.interrupts[data.interrupt_id]
    if (!interrupt) return
    interrupt.received = {
      by: data.by,
      ...(data.decision !== undefined && { decision: data.decision }),
      ...(data.reason !== undefined && { reason: data.reason }),
      ...(data.arguments !== undefined && { arguments: data.arguments }),
      ...('answer' in data && { answer: data.answer }),
      seq
    }
    if (view.status === 'waiting' && openInterrupts(view).length === 0) view.status = 'running'
  },
  agent_completed (view, { data }) {
    const agent = view.agents[data.agent_id]
    if (!agent) return
    agent.status = 'completed'
    // a sub-agent's own result; the root's is the run's, read from run_completed
    if ('result' in data) agent.result = data.result
    agent.duration_ms = data.duration_ms
  },
  agent_error (view, { seq, data }) {
    const agent = view.agents[data.agent_id]
    if (!agent) return
    agent.status = data.retryable ? 'retrying' : data.error?.code === 'cancelled' ? 'cancelled' : 'failed'
    agent.error = data.error
    agent.steps.push({ kind: 'attempt_failed', attempt: data.attempt, error: data.error, retryable: data.retryable, seq })
  },
  run_completed (view, { data }) {
    view.status = 'completed'
    view.result = data.result
    view.answer = answerOf(data.result)
    view.finished_at = data.timestamp
  },
  run_failed (view, { data }) {
    view.status = 'failed'
    view.error = data.error
    view.finished_at = data.timestamp
  },
  run_cancelled (view, { data }) {
    view.status = 'cancelled'
    view.cancel_reason = data.reason
    view.finished_at = data.timestamp
  }
}

/** Gives an event type a reducer (a new one, or a page's own take on a known one). */
export function onEvent (type: string, reducer: Reducer): void {
  reducers[type] = reducer
}

/**
 * Applies one event. `old`: seen already (replay and live overlap), ignored; `gap`: events are
 * missing before it, not applied (the caller fetches the missing ones); `ok`: applied.
 */
export function reduceRun (view: RunView, event: PageEvent): 'ok' | 'old' | 'gap' {
  if (event.seq <= view.lastSeq) return 'old'
  if (event.seq > view.lastSeq + 1) return 'gap'
  view.lastSeq = event.seq
  const reducer = reducers[event.type]
  if (reducer) reducer(view, event)
  else place(view, event.data?.agent_id, { kind: 'event', event })
  return 'ok'
}

/** A run from a list of events (its stored history), in seq order. */
export function runFromEvents (run_id: string, thread_id: string, events: PageEvent[]): RunView {
  const view = newRun(run_id, thread_id)
  for (const e of events) reduceRun(view, e)
  return view
}

/** Counts for the run's header line. */
export function runStats (view: RunView): { agents: number, tools: number, failedTools: number, retries: number } {
  const tools = Object.values(view.tools)
  let retries = 0
  for (const a of Object.values(view.agents)) retries += a.attempt - 1
  return { agents: Object.keys(view.agents).length, tools: tools.length, failedTools: tools.filter((t) => t.status === 'error' || t.status === 'timeout').length, retries }
}
