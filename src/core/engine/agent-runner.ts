import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Config } from '../../config.js'
import type { RunScope } from '../context.js'
import { now } from '../events.js'
import { Ajv } from 'ajv'
import { DEFAULT_EXPIRES_IN_S, validExpiry, type AgentContext, type AgentDefinition, type AgentRegistry, type AskOptions } from '../registry.js'
import type { AnswerStream } from './answer-stream.js'
import type { EngineMetrics } from './engine.js'
import type { RunInputs } from './interrupts.js'
import { RunFailure, deadline, isInterruption, raceAbort, timedOut, toErrorBody } from './failures.js'
import { traceKey, type ResumePlan } from './resume.js'
import type { RunEmitter } from './run-emitter.js'
import { callTool } from './tool-dispatcher.js'
import { runWorkflow } from './workflow.js'

export type RunLimits = Pick<Config['limits'], 'agentTimeoutMs' | 'toolTimeoutMs' | 'retryBaseMs'>

/** Everything one run's agents share: the run's scope, emitter, registry and limits. */
export interface RunDeps {
  scope: RunScope
  emitter: RunEmitter
  registry: AgentRegistry
  limits: RunLimits
  content: string
  /** what a run taken over from another process has done already */
  resume?: ResumePlan
  /** the run's interrupts (approvals, questions) and wait clock; absent: nothing can ask */
  inputs?: RunInputs
  /** the run's streamed answer; absent: `stream` writes nothing */
  answer?: AnswerStream
  /** told of each agent attempt and tool call as it closes */
  metrics?: Pick<EngineMetrics, 'agentEnded' | 'toolEnded'>
}

/** A sub-agent's caller: its id, and the signal that ends the sub-agent with it. */
export interface Parent { agent_id: string, signal: AbortSignal, depth: number }

/** sub-agents nest at most this deep: an agent or workflow that calls itself ends instead of looping */
export const MAX_AGENT_DEPTH = 16

const describe = (a: AgentDefinition) => a.workflow ? `Running workflow ${a.name}` : `Running ${a.name}`

/**
 * Runs one agent to a result, with attempts, timeouts and the events of CONTRACT §5 rule 3.
 * Resolves with the result, or throws the last attempt's failure after its `agent_error`.
 * The root agent and workflow steps (`stepId`) of a run taken over go on where the stored
 * events left them: a finished one is not run again, an interrupted one starts its next attempt.
 */
export async function runAgent (deps: RunDeps, name: string, input: Record<string, unknown>, parent?: Parent, stepId?: string): Promise<unknown> {
  const { scope, emitter, registry, limits } = deps
  const parentSignal = parent?.signal ?? scope.signal
  const depth = (parent?.depth ?? 0) + 1
  const registered = registry.agent(name)
  const agent = registry.instantiate(name)
  if (!registered || !agent) throw new RunFailure('unknown_agent', `no agent named "${name}"`, false)
  if (depth > MAX_AGENT_DEPTH) throw new RunFailure('agent_depth_exceeded', `sub-agents nest deeper than ${MAX_AGENT_DEPTH}: ${name} calls itself?`, false)
  if (registered.validateInput && !registered.validateInput(input)) {
    throw new RunFailure('invalid_request', `input for ${name}: ${registered.validateInput.errors?.[0]?.message ?? 'invalid'}`, false)
  }
  const key = traceKey(parent?.agent_id, stepId)
  const trace = key === undefined ? undefined : deps.resume?.get(key)
  if (trace?.outcome) {
    if ('result' in trace.outcome) return trace.outcome.result
    throw new RunFailure(trace.outcome.error.code, trace.outcome.error.message, false)
  }
  const agent_id = trace?.agent_id ?? randomUUID()
  const maxAttempts = (agent.max_attempts ?? 1) + (trace?.interruptions ?? 0)
  const timeoutMs = agent.timeout_ms ?? limits.agentTimeoutMs
  const base = { agent_id, agent_name: name }

  for (let attempt = (trace?.attempt ?? 0) + 1; ; attempt++) {
    const started = performance.now()
    await emitter.emit({
      type: 'agent_started',
      data: { ...base, message: describe(agent), attempt, ...(parent ? { parent_agent_id: parent.agent_id } : {}), ...(stepId === undefined ? {} : { step_id: stepId }), timestamp: now() }
    })
    const attemptSignal = deadline(parentSignal, timeoutMs, () => timedOut(`agent ${name}`, timeoutMs), deps.inputs)
    const inFlight = new Set<Promise<unknown>>()
    // set just before the attempt's closing event: a late think() is dropped, never thrown
    let over = false
    const track = <T>(p: Promise<T>) => {
      inFlight.add(p)
      p.then(() => inFlight.delete(p), () => inFlight.delete(p))
      return p
    }
    const ctx: AgentContext = Object.freeze({
      user_id: scope.user_id,
      thread_id: scope.thread_id,
      run_id: scope.run_id,
      agent_id,
      content: deps.content,
      signal: attemptSignal.signal,
      log: scope.log.child({ agent_id, agent_name: name, attempt }),
      think (text: string) {
        if (over || attemptSignal.signal.aborted) return
        emitter.emit({ type: 'agent_thinking', data: { ...base, thought: String(text), timestamp: now() } }).catch(() => {})
      },
      stream: deps.answer ? deps.answer.writer(base, () => !over && !attemptSignal.signal.aborted) : () => {},
      ask (q: AskOptions) {
        return track(ask(deps, base, q, attemptSignal.signal))
      },
      call_tool (tool: string, args: Record<string, unknown>) {
        return track(callTool({ ...deps, signal: attemptSignal.signal }, base, tool, args))
      },
      call_agent (sub: string, subInput: Record<string, unknown> = {}) {
        return track(runAgent(deps, sub, subInput, { agent_id, signal: attemptSignal.signal, depth })) as Promise<any>
      }
    })
    try {
      // tracked like a sub-agent: an aborted workflow closes after the steps it was running
      const work = agent.workflow
        ? track(runWorkflow(deps, agent.workflow.steps, input, { agent_id, signal: attemptSignal.signal, depth }))
        : Promise.resolve().then(() => agent.run!(ctx, input))
      const result = await raceAbort(work, attemptSignal.signal)
      if (result === undefined || result === null) throw new RunFailure('invalid_result', `agent ${name} returned ${result}`)
      if (registered.validateOutput && !registered.validateOutput(result)) {
        throw new RunFailure('invalid_result', `agent ${name} result: ${registered.validateOutput.errors?.[0]?.message ?? 'invalid'}`)
      }
      await settle(inFlight)
      // the root's result goes out in run_completed: one too large fails the agent here, like a sub-agent's
      if (!parent) emitter.assertFits({ type: 'run_completed', data: { result, timestamp: now() } })
      over = true
      deps.metrics?.agentEnded(name, seconds(started))
      if (parent) {
        await emitter.emit({ type: 'agent_completed', data: { ...base, result, attempt, duration_ms: ms(started), timestamp: now() } })
        return result
      }
      // the root's result travels once, in run_completed: not awaited, so the engine queues the
      // answer's last delta and run_completed in this tick and the three are stored in one transaction
      emitter.emit({ type: 'agent_completed', data: { ...base, attempt, duration_ms: ms(started), timestamp: now() } }).catch(() => {})
      return result
    } catch (err) {
      // an aborted attempt's own tool calls and sub-agents end first (they race the same signal)
      await settle(inFlight)
      const failure = attemptSignal.signal.aborted ? attemptSignal.signal.reason : err
      // an interrupted attempt is retried by the process that takes the run over, not here
      const interrupted = isInterruption(failure)
      const retryable = interrupted || (attempt < maxAttempts && !parentSignal.aborted && !(failure instanceof RunFailure && !failure.retryable))
      over = true
      const error = toErrorBody(failure)
      const closed = emitter.emit({ type: 'agent_error', data: { ...base, error, retryable, attempt, timestamp: now() } })
      deps.metrics?.agentEnded(name, seconds(started), error.code)
      await closed
      if (interrupted || !retryable) throw failure
      scope.log.warn({ agent: name, attempt, err: failure }, 'agent attempt failed, retrying')
      const backoff = limits.retryBaseMs * 2 ** (attempt - 1)
      await sleep(backoff / 2 + Math.random() * backoff / 2, undefined, { signal: parentSignal }).catch(() => {})
      if (parentSignal.aborted) throw parentSignal.reason
    } finally {
      attemptSignal.dispose()
    }
  }
}

/** `ctx.ask`: one question, its answer checked against its schema by whoever stores it. */
async function ask (deps: RunDeps, agent: { agent_id: string, agent_name: string }, q: AskOptions, signal: AbortSignal): Promise<any> {
  if (!deps.inputs) throw new RunFailure('invalid_request', 'this run cannot ask the user', false)
  if (!q || typeof q.question !== 'string' || !q.question || q.question.length > 4000) throw new RunFailure('invalid_request', 'ask: question must be a string of 1..4000 characters', false)
  if (q.expires_in_s !== undefined && !validExpiry(q.expires_in_s)) throw new RunFailure('invalid_request', 'ask: expires_in_s must be a number of seconds in 0..604800', false)
  const schema = q.schema ?? { type: 'string' }
  try {
    new Ajv({ strict: false }).compile(schema)
  } catch (err) {
    throw new RunFailure('invalid_request', `ask: invalid schema: ${(err as Error).message}`, false)
  }
  // the default is what the run records when the question expires: it must fit in that event
  if (q.default !== undefined) deps.emitter.assertFits({ type: 'input_received', data: { ...agent, interrupt_id: randomUUID(), kind: 'question', by: 'expiry', answer: q.default, timestamp: now() } })
  const answer = await deps.inputs.request(agent, {
    kind: 'question',
    question: q.question,
    schema,
    expires_in_s: q.expires_in_s ?? DEFAULT_EXPIRES_IN_S,
    on_expiry: q.default === undefined ? {} : { answer: q.default }
  }, signal)
  return answer.body.answer
}

const ms = (since: number) => Math.round((performance.now() - since) * 10) / 10
const seconds = (since: number) => (performance.now() - since) / 1000

async function settle (inFlight: Set<Promise<unknown>>) {
  await Promise.allSettled([...inFlight])
}
