import { contentToText, EventType, PROTOCOL_VERSION, type AGUIEvent, type ContentPart } from '@ag-ui/core'
import { Errors } from '../errors.js'
import { MAX_CONTENT_CHARS, type EventData, type EventType as OurType, type ResumeRequest, type RunEvent } from './events.js'

/**
 * Our run events as AG-UI 1.0 events (docs/ag-ui.md has the table), and the SSE framing that
 * lets an AG-UI stream resume: each SSE `id` names a place in our event log, so a client that
 * reconnects with `Last-Event-ID` continues with no gap and no duplicate.
 */

export interface AgUiMapperOptions {
  /** whether the agent of this name is a workflow: the agents it starts are its steps */
  isWorkflow (agentName: string): boolean
}

/** An agent attempt the mapper has seen start. */
interface Attempt {
  name: string
  workflow: boolean
  /** the AG-UI subagent of this attempt; absent for the run's own (root) agent */
  subagentRunId?: string
  /** the workflow step this attempt runs, and whose subagent owns the step */
  step?: { name: string, owner?: string }
}

/**
 * Something opened on the AG-UI side that must be closed before the run's end. A sub-agent keeps
 * its SUBAGENT_STARTED, sent again when an AG-UI run resumed after an interrupt continues it.
 */
type Frame = { kind: 'subagent', subagentRunId: string, started: AGUIEvent } | { kind: 'step', name: string, owner?: string }

/** AG-UI wants integer timestamps, in practice epoch milliseconds; ours are epoch seconds. */
const ms = (seconds: number) => Math.round(seconds * 1000)

/** The final answer as text, as the engine keeps it for the assistant message. */
export function answerText (result: unknown): string {
  if (typeof result === 'string') return result
  const answer = (result as { answer?: unknown } | null)?.answer
  return typeof answer === 'string' ? answer : JSON.stringify(result)
}

/** One of our events, narrowed by its type (RunEvent's union does not discriminate on `type`). */
type Ev<T extends OurType> = Omit<RunEvent, 'type' | 'data'> & { type: T, data: EventData<T> }
type Any = { [T in OurType]: Ev<T> }[OurType]

const asText = (value: unknown) => typeof value === 'string' ? value : JSON.stringify(value ?? null)
const by = (owner: string | undefined) => owner === undefined ? {} : { subagentRunId: owner }

/**
 * Maps one run's events, in seq order, to AG-UI events. Stateful (which sub-agents and steps are
 * open), and deterministic: the same events always give the same AG-UI events, which is what
 * lets a resumed stream be rebuilt by mapping the run again from its first event.
 */
export function createAgUiMapper (opts: AgUiMapperOptions) {
  let started = false
  let ended = false
  /** the assistant message `answer_delta`s are streaming into, and how many there were */
  let answerId: string | undefined
  /** the sub-agent writing it, if a sub-agent is: the message is attributed to it and ends with it */
  let answerOwner: string | undefined
  let answers = 0
  /**
   * The run waits for an answer: the AG-UI run ended with an interrupt outcome, and the next event
   * starts the AG-UI run that resumes it, reopening what the interrupt suspended (and the answer
   * being written, whose message goes on under the same id).
   */
  let paused = false
  let suspendedAnswer: { id: string, owner?: string } | undefined
  const endAnswer = (timestamp: number): AGUIEvent[] => {
    if (answerId === undefined) return []
    const messageId = answerId
    answerId = undefined
    return [{ type: EventType.TEXT_MESSAGE_END, messageId, ...by(answerOwner), timestamp }]
  }
  const attempts = new Map<string, Attempt>()
  const frames = new Map<string, Frame>()
  type FrameId = { kind: 'subagent', subagentRunId: string } | { kind: 'step', name: string, owner?: string }
  const frameKey = (f: FrameId) => f.kind === 'subagent' ? `s ${f.subagentRunId}` : `t ${f.owner ?? ''} ${f.name}`

  /** A step name not open under this owner: two parallel steps may run the same agent. */
  function stepName (base: string, owner?: string) {
    let name = base
    for (let n = 2; frames.has(frameKey({ kind: 'step', name, owner })); n++) name = `${base} #${n}`
    return name
  }

  function open (f: Frame) { frames.set(frameKey(f), f) }
  function close (f: FrameId) { frames.delete(frameKey(f)) }

  /**
   * The run waits for an answer (CONTRACT §5.6): as AG-UI has it, the AG-UI run ends with the
   * interrupt outcome, after suspending what is open; the answer comes back in a new AG-UI run.
   */
  function interrupt (e: Ev<'input_requested'>): AGUIEvent[] {
    const d = e.data
    const timestamp = ms(d.timestamp)
    const owner = attempts.get(d.agent_id)?.subagentRunId
    const out: AGUIEvent[] = []
    if (answerId !== undefined) {
      suspendedAnswer = { id: answerId, owner: answerOwner }
      out.push(...endAnswer(timestamp))
    }
    for (const f of [...frames.values()].reverse()) {
      out.push(f.kind === 'subagent'
        ? { type: EventType.SUBAGENT_FINISHED, subagentRunId: f.subagentRunId, outcome: { type: 'suspended', ...(f.subagentRunId === owner ? { interruptIds: [d.interrupt_id] } : {}) }, timestamp }
        : { type: EventType.STEP_FINISHED, stepName: f.name, ...by(f.owner), timestamp })
    }
    const approval = d.kind === 'approval'
    out.push({
      type: EventType.RUN_FINISHED,
      threadId: e.thread_id,
      runId: e.run_id,
      outcome: {
        type: 'interrupt',
        interrupts: [{
          id: d.interrupt_id,
          reason: d.kind,
          message: approval ? `Approve the call to ${d.tool_name}?` : d.question,
          ...(approval ? { toolCallId: d.tool_call_id } : {}),
          ...(isObject(d.schema) ? { responseSchema: d.schema } : {}),
          expiresAt: d.expires_at,
          ...by(owner),
          metadata: { agentwire: { kind: d.kind, agent_name: d.agent_name, ...(approval ? { tool_name: d.tool_name, arguments: d.arguments } : { question: d.question }) } }
        }]
      },
      timestamp
    })
    paused = true
    return out
  }

  /** The AG-UI run that resumes the one an interrupt ended: what was suspended opens again. */
  function resumed (e: RunEvent): AGUIEvent[] {
    paused = false
    const timestamp = ms(e.data.timestamp)
    const out: AGUIEvent[] = [{ type: EventType.RUN_STARTED, threadId: e.thread_id, runId: e.run_id, protocolVersion: PROTOCOL_VERSION, timestamp }]
    for (const f of frames.values()) {
      out.push(f.kind === 'subagent' ? { ...f.started, timestamp } : { type: EventType.STEP_STARTED, stepName: f.name, ...by(f.owner), timestamp })
    }
    if (suspendedAnswer) {
      answerId = suspendedAnswer.id
      answerOwner = suspendedAnswer.owner
      suspendedAnswer = undefined
      out.push({ type: EventType.TEXT_MESSAGE_START, messageId: answerId, role: 'assistant', ...by(answerOwner), timestamp })
    }
    return out
  }

  /** Closes whatever is still open, newest first: the run is ending. */
  function closeAll (timestamp: number): AGUIEvent[] {
    const out: AGUIEvent[] = []
    for (const f of [...frames.values()].reverse()) {
      out.push(f.kind === 'subagent'
        ? { type: EventType.SUBAGENT_ERROR, subagentRunId: f.subagentRunId, message: 'the run ended first', code: 'interrupted', timestamp }
        : { type: EventType.STEP_FINISHED, stepName: f.name, ...by(f.owner), timestamp })
    }
    frames.clear()
    return out
  }

  function agentStarted (e: Ev<'agent_started'>): AGUIEvent[] {
    const d = e.data
    const timestamp = ms(d.timestamp)
    const workflow = opts.isWorkflow(d.agent_name)
    if (d.parent_agent_id === undefined) {
      attempts.set(d.agent_id, { name: d.agent_name, workflow })
      return []
    }
    const parent = attempts.get(d.parent_agent_id)
    const owner = parent?.subagentRunId
    const out: AGUIEvent[] = []
    const attempt: Attempt = { name: d.agent_name, workflow, subagentRunId: `${d.agent_id}:${d.attempt}` }
    if (parent?.workflow) {
      const stepId = (d as { step_id?: unknown }).step_id
      attempt.step = { name: stepName(typeof stepId === 'string' ? stepId : d.agent_name, owner), owner }
      open({ kind: 'step', ...attempt.step })
      out.push({ type: EventType.STEP_STARTED, stepName: attempt.step.name, ...by(owner), timestamp })
    }
    const started: AGUIEvent = {
      type: EventType.SUBAGENT_STARTED,
      subagentRunId: attempt.subagentRunId!,
      name: d.agent_name,
      description: d.message,
      ...(owner === undefined ? {} : { parentSubagentRunId: owner }),
      metadata: { agentwire: { agent_id: d.agent_id, attempt: d.attempt } },
      timestamp
    }
    open({ kind: 'subagent', subagentRunId: attempt.subagentRunId!, started })
    out.push(started)
    attempts.set(d.agent_id, attempt)
    return out
  }

  function agentEnded (e: Ev<'agent_completed'> | Ev<'agent_error'>): AGUIEvent[] {
    const d = e.data
    const timestamp = ms(d.timestamp)
    const attempt = attempts.get(d.agent_id)
    const ending = answerId !== undefined && answerOwner !== undefined && answerOwner === attempt?.subagentRunId ? endAnswer(timestamp) : []
    return [...ending, ...agentEndedEvents(e, d, timestamp, attempt)]
  }

  function agentEndedEvents (e: Ev<'agent_completed'> | Ev<'agent_error'>, d: Ev<'agent_completed'>['data'] | Ev<'agent_error'>['data'], timestamp: number, attempt: Attempt | undefined): AGUIEvent[] {
    if (!attempt?.subagentRunId) {
      // the root agent: its end is the run's end, except a failed attempt that is retried
      return e.type === 'agent_error'
        ? [{ type: EventType.CUSTOM, name: 'agentwire.agent_error', value: { agent_name: d.agent_name, attempt: d.attempt, retryable: e.data.retryable, error: e.data.error }, timestamp }]
        : []
    }
    const { subagentRunId } = attempt
    close({ kind: 'subagent', subagentRunId })
    const out: AGUIEvent[] = [e.type === 'agent_completed'
      ? { type: EventType.SUBAGENT_FINISHED, subagentRunId, result: e.data.result, outcome: { type: 'success' }, timestamp }
      : { type: EventType.SUBAGENT_ERROR, subagentRunId, message: e.data.error.message, code: e.data.error.code, metadata: { agentwire: { retryable: e.data.retryable } }, timestamp }]
    if (attempt.step) {
      close({ kind: 'step', ...attempt.step })
      out.push({ type: EventType.STEP_FINISHED, stepName: attempt.step.name, ...by(attempt.step.owner), timestamp })
    }
    return out
  }

  function body (e: Any): AGUIEvent[] {
    const runId = e.run_id
    const threadId = e.thread_id
    const messageId = `${runId}:${e.seq}`
    switch (e.type) {
      case 'run_queued':
        return [{ type: EventType.CUSTOM, name: 'agentwire.run_queued', value: { position: e.data.position }, timestamp: ms(e.data.timestamp) }]
      case 'agent_started':
        return agentStarted(e)
      case 'agent_completed':
      case 'agent_error':
        return agentEnded(e)
      case 'agent_thinking': {
        const owner = by(attempts.get(e.data.agent_id)?.subagentRunId)
        const timestamp = ms(e.data.timestamp)
        return [
          { type: EventType.REASONING_START, messageId, ...owner, timestamp },
          { type: EventType.REASONING_MESSAGE_START, messageId, role: 'reasoning', ...owner, timestamp },
          { type: EventType.REASONING_MESSAGE_CONTENT, messageId, delta: e.data.thought, ...owner, timestamp },
          { type: EventType.REASONING_MESSAGE_END, messageId, ...owner, timestamp },
          { type: EventType.REASONING_END, messageId, ...owner, timestamp }
        ]
      }
      case 'tool_executing': {
        const owner = by(attempts.get(e.data.agent_id)?.subagentRunId)
        const timestamp = ms(e.data.timestamp)
        const toolCallId = e.data.tool_call_id
        return [
          { type: EventType.TOOL_CALL_START, toolCallId, toolCallName: e.data.tool_name, ...owner, timestamp },
          { type: EventType.TOOL_CALL_ARGS, toolCallId, delta: JSON.stringify(e.data.parameters ?? {}), ...owner, timestamp },
          { type: EventType.TOOL_CALL_END, toolCallId, ...owner, timestamp }
        ]
      }
      case 'tool_progress': {
        const { tool_call_id, tool_name, message, progress } = e.data
        return [{
          type: EventType.CUSTOM,
          name: 'agentwire.tool_progress',
          value: { tool_call_id, tool_name, message, ...(progress === undefined ? {} : { progress }) },
          ...by(attempts.get(e.data.agent_id)?.subagentRunId),
          timestamp: ms(e.data.timestamp)
        }]
      }
      case 'tool_completed': {
        const { status, result, error, duration_ms } = e.data
        return [{
          type: EventType.TOOL_CALL_RESULT,
          messageId,
          toolCallId: e.data.tool_call_id,
          role: 'tool',
          content: status === 'success' ? asText(result) : JSON.stringify({ status, error }),
          ...by(attempts.get(e.data.agent_id)?.subagentRunId),
          metadata: { agentwire: { status, duration_ms } },
          timestamp: ms(e.data.timestamp)
        }]
      }
      case 'answer_delta': {
        // the answer as it is written; a reset starts a new message, as AG-UI cannot take text back
        const timestamp = ms(e.data.timestamp)
        const owner = e.data.agent_id === undefined ? undefined : attempts.get(e.data.agent_id)?.subagentRunId
        const out: AGUIEvent[] = e.data.reset || (answerId !== undefined && owner !== answerOwner) ? endAnswer(timestamp) : []
        if (answerId === undefined) {
          answerId = answers++ === 0 ? `${runId}:answer` : `${runId}:answer:${answers}`
          answerOwner = owner
          out.push({ type: EventType.TEXT_MESSAGE_START, messageId: answerId, role: 'assistant', ...by(owner), timestamp })
        }
        if (e.data.delta) out.push({ type: EventType.TEXT_MESSAGE_CONTENT, messageId: answerId, delta: e.data.delta, ...by(owner), timestamp })
        return out
      }
      case 'input_requested':
        return interrupt(e)
      case 'input_received': {
        const { timestamp, ...value } = e.data
        return [{ type: EventType.CUSTOM, name: 'agentwire.input_received', value, ...by(attempts.get(e.data.agent_id)?.subagentRunId), timestamp: ms(timestamp) }]
      }
      case 'run_completed': {
        const timestamp = ms(e.data.timestamp)
        if (answers > 0) {
          return [
            ...closeAll(timestamp),
            ...endAnswer(timestamp),
            { type: EventType.RUN_FINISHED, threadId, runId, result: e.data.result, outcome: { type: 'success' }, timestamp }
          ]
        }
        const messageId = `${runId}:answer`
        return [
          ...closeAll(timestamp),
          { type: EventType.TEXT_MESSAGE_START, messageId, role: 'assistant', timestamp },
          { type: EventType.TEXT_MESSAGE_CONTENT, messageId, delta: answerText(e.data.result), timestamp },
          { type: EventType.TEXT_MESSAGE_END, messageId, timestamp },
          { type: EventType.RUN_FINISHED, threadId, runId, result: e.data.result, outcome: { type: 'success' }, timestamp }
        ]
      }
      case 'run_cancelled': {
        const timestamp = ms(e.data.timestamp)
        return [
          ...closeAll(timestamp),
          ...endAnswer(timestamp),
          { type: EventType.RUN_FINISHED, threadId, runId, outcome: { type: 'cancelled' }, metadata: { agentwire: { reason: e.data.reason } }, timestamp }
        ]
      }
      case 'run_failed': {
        const timestamp = ms(e.data.timestamp)
        return [...closeAll(timestamp), ...endAnswer(timestamp), { type: EventType.RUN_ERROR, message: e.data.error.message, code: e.data.error.code, timestamp }]
      }
      default:
        return []
    }
  }

  return {
    /** The AG-UI events of one of our events; the first event of a run also opens it. */
    map (e: RunEvent): AGUIEvent[] {
      if (ended) return []
      const out: AGUIEvent[] = []
      if (!started) {
        started = true
        out.push({ type: EventType.RUN_STARTED, threadId: e.thread_id, runId: e.run_id, protocolVersion: PROTOCOL_VERSION, timestamp: ms(e.data.timestamp) })
      } else if (paused) {
        out.push(...resumed(e))
      }
      out.push(...body(e as Any))
      if (e.type === 'run_completed' || e.type === 'run_failed' || e.type === 'run_cancelled') ended = true
      return out
    }
  }
}

/**
 * Where a client is in a mapped stream. `seq` alone: every AG-UI event of our events up to `seq`
 * was received. With `index`: those of our events before `seq`, and the first `index` AG-UI
 * events of event `seq`.
 */
export interface StreamCursor { seq: number, index?: number }

/** A `Last-Event-ID` as the stream writes them (`7`, `7:2`), or undefined when it is not one. */
export function parseEventId (id: string): StreamCursor | undefined {
  const m = /^(\d{1,15})(?::(\d{1,6}))?$/.exec(id)
  if (!m) return undefined
  return m[2] === undefined ? { seq: Number(m[1]) } : { seq: Number(m[1]), index: Number(m[2]) }
}

/**
 * The SSE text of a run mapped to AG-UI, one of our events at a time. Every AG-UI event is one
 * SSE event: the last one mapped from our event `seq` has `id: seq`, the ones before it
 * `id: seq:k` (k of them sent so far); an event that maps to nothing still moves the id on with
 * a data-less `id: seq` block. Events at or before `after` are mapped (to rebuild the mapper's
 * state) but not written. One response is one AG-UI run: it is over once that run's end is written
 * (an interrupt ends one; the AG-UI run that resumes it is another response).
 */
export function createAgUiStream (opts: AgUiMapperOptions & { after?: StreamCursor }) {
  const mapper = createAgUiMapper(opts)
  const after = opts.after
  let closed = false
  return {
    /** an AG-UI run's end (RUN_FINISHED, RUN_ERROR) was written: this response is over */
    get closed () { return closed },
    write (e: RunEvent): string {
      const events = mapper.map(e)
      if (closed) return ''
      if (after && e.seq < after.seq) return ''
      if (after && e.seq === after.seq && after.index === undefined) return ''
      const from = after && e.seq === after.seq ? after.index! : 0
      if (events.length === 0) return from === 0 ? `id: ${e.seq}\n\n` : ''
      let text = ''
      for (let i = from; i < events.length; i++) {
        const id = i === events.length - 1 ? `${e.seq}` : `${e.seq}:${i + 1}`
        text += `id: ${id}\ndata: ${JSON.stringify(events[i])}\n\n`
        if (events[i].type === EventType.RUN_FINISHED || events[i].type === EventType.RUN_ERROR) closed = true
      }
      return text
    }
  }
}

/** What of a `RunAgentInput` a run needs; the rest (tools, context, runId) is not used. */
export interface RunAgentInputFields {
  threadId: string
  messages: Array<{ role: string, content?: unknown }>
  state?: unknown
  forwardedProps?: unknown
  resume?: ResumeEntryFields[]
}

/** An AG-UI `ResumeEntry`: the answer to one interrupt of the run an interrupt outcome ended. */
export interface ResumeEntryFields {
  interruptId: string
  status: 'resolved' | 'cancelled'
  payload?: unknown
}

const APPROVAL_KEYS = new Set(['decision', 'reason', 'arguments'])

/**
 * A resume entry as our answer to the interrupt it names (`asked`). A resolved entry's `payload` is
 * what the interrupt's `responseSchema` describes: an approval's `{decision, reason?, arguments?}`,
 * a question's answer. An abandoned (cancelled) approval is a rejection; a question cannot be
 * abandoned, only answered (or its run cancelled). The engine checks the answer against the schema.
 */
export function answerOf (entry: ResumeEntryFields, asked: EventData<'input_requested'>, where: string): ResumeRequest {
  const interrupt_id = entry.interruptId
  if (asked.kind === 'approval') {
    if (entry.status === 'cancelled') return { interrupt_id, decision: 'reject', reason: 'abandoned by the AG-UI client' }
    const p = entry.payload
    if (!isObject(p)) throw new Errors.InvalidRequest(`${where}.payload must be an object: an approval is answered with {"decision": "approve" | "reject", "reason"?, "arguments"?}`)
    const extra = Object.keys(p).find((k) => !APPROVAL_KEYS.has(k))
    if (extra !== undefined) throw new Errors.InvalidRequest(`${where}.payload has "${extra}": an approval is answered with {"decision": "approve" | "reject", "reason"?, "arguments"?}`)
    return { interrupt_id, ...p } as ResumeRequest
  }
  if (entry.status === 'cancelled') throw new Errors.InvalidRequest(`${where}: a question cannot be abandoned; answer it (status "resolved", the answer as payload) or cancel the run (POST /runs/{run_id}/cancel)`)
  if (entry.payload === undefined) throw new Errors.InvalidRequest(`${where}.payload is missing: a question's answer is the payload`)
  return { interrupt_id, answer: entry.payload }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * A run from an AG-UI `RunAgentInput`: the last user message is the message's content; `state`
 * and `forwardedProps` (objects; the latter wins on a shared key) are the agent's `input`.
 */
export function runFromInput (body: RunAgentInputFields): { content: string, input: Record<string, unknown> } {
  const last = body.messages.findLast((m) => m.role === 'user')
  if (!last) throw new Errors.InvalidRequest('body/messages has no user message')
  const content = contentToText(last.content as string | ContentPart[] | undefined)
  if (content.trim() === '') throw new Errors.InvalidRequest('body/messages: the last user message has no text')
  if (content.length > MAX_CONTENT_CHARS) throw new Errors.InvalidRequest(`body/messages: the last user message is longer than ${MAX_CONTENT_CHARS} characters`)
  for (const field of ['state', 'forwardedProps'] as const) {
    const v = body[field]
    if (v !== undefined && v !== null && !isObject(v)) throw new Errors.InvalidRequest(`body/${field} must be an object: it becomes the agent's input`)
  }
  return { content, input: { ...(isObject(body.state) ? body.state : {}), ...(isObject(body.forwardedProps) ? body.forwardedProps : {}) } }
}
