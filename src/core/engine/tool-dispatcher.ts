import { randomUUID } from 'node:crypto'
import { now } from '../events.js'
import type { RunDeps } from './agent-runner.js'
import { DEFAULT_EXPIRES_IN_S, type RegisteredTool, type ToolContext } from '../registry.js'
import { RunFailure, deadline, raceAbort, timedOut, toErrorBody } from './failures.js'
import { approvalSchema, rejected } from './interrupts.js'

type Status = 'success' | 'error' | 'timeout' | 'cancelled'

/**
 * One tool call of one agent attempt: `tool_executing`, the arguments checked against the tool's
 * `input_schema`, the tool raced against its timeout and the attempt's signal, then exactly one
 * `tool_completed`. Resolves with the result or throws the tool's failure.
 */
export async function callTool (
  deps: RunDeps & { signal: AbortSignal },
  agent: { agent_id: string, agent_name: string },
  name: string,
  args: Record<string, unknown>
): Promise<any> {
  const { emitter, registry, scope, limits } = deps
  if (deps.signal.aborted) throw deps.signal.reason
  const tool = registry.tool(name)
  let tool_call_id: string = randomUUID()
  let rejection: RunFailure | undefined
  if (tool && needsApproval(tool, args) && tool.validate(structuredCloneSafe(args) ?? {})) {
    if (!deps.inputs) throw new RunFailure('invalid_request', `${name} needs an approval, and this run cannot ask for one`, false)
    const answer = await deps.inputs.request(agent, {
      kind: 'approval',
      tool_name: name,
      tool_call_id,
      arguments: structuredCloneSafe(args),
      schema: approvalSchema(tool.input_schema ?? { type: 'object' }),
      expires_in_s: tool.approval_expires_in_s ?? DEFAULT_EXPIRES_IN_S,
      on_expiry: { decision: tool.approval_default ?? 'reject', reason: 'no answer before the approval expired' }
    }, deps.signal)
    // a replayed attempt goes on with the call its approval was asked for, unless that one ran
    if (answer.tool_call_id && !answer.executed) tool_call_id = answer.tool_call_id
    if (answer.body.decision !== 'approve') rejection = rejected(answer.body.reason)
    else if (answer.body.arguments && typeof answer.body.arguments === 'object') args = answer.body.arguments as Record<string, unknown>
  }
  const ids = { ...agent, tool_name: String(name), tool_call_id }
  // the tool may mutate what it gets (schema defaults); the event keeps what the agent sent
  const parameters = structuredCloneSafe(args)
  await emitter.emit({ type: 'tool_executing', data: { ...ids, parameters, timestamp: now() } })

  const started = performance.now()
  // a progress() after tool_completed is dropped, never thrown into the tool
  let open = true
  const complete = (status: Status, outcome: { result: unknown } | { error: { code: string, message: string } }) => {
    open = false
    const closed = emitter.emit({
      type: 'tool_completed',
      data: { ...ids, status, ...outcome, duration_ms: Math.round((performance.now() - started) * 10) / 10, timestamp: now() }
    })
    // counted once the call closes (an event refused as too large is not its close); names only of registered tools
    deps.metrics?.toolEnded(tool ? name : '', (performance.now() - started) / 1000, 'error' in outcome ? outcome.error.code : undefined)
    return closed
  }

  if (rejection) {
    await complete('error', { error: toErrorBody(rejection) })
    throw rejection
  }
  if (!tool) {
    const err = new RunFailure('unknown_tool', `no tool named "${name}"`, false)
    await complete('error', { error: toErrorBody(err) })
    throw err
  }
  const callArgs = structuredCloneSafe(args) ?? {}
  if (!tool.validate(callArgs)) {
    const e = tool.validate.errors?.[0]
    const err = new RunFailure('invalid_arguments', `${name}: ${e ? `${e.instancePath || '/'} ${e.message}` : 'invalid arguments'}`, false)
    await complete('error', { error: toErrorBody(err) })
    throw err
  }

  const timeoutMs = tool.timeout_ms ?? limits.toolTimeoutMs
  const callSignal = deadline(deps.signal, timeoutMs, () => timedOut(`tool ${name}`, timeoutMs))
  const ctx: ToolContext = Object.freeze({
    user_id: scope.user_id,
    run_id: scope.run_id,
    signal: callSignal.signal,
    progress (message: string, fraction?: number) {
      if (!open || callSignal.signal.aborted) return
      const progress = typeof fraction === 'number' && fraction >= 0 && fraction <= 1 ? { progress: fraction } : {}
      emitter.emit({ type: 'tool_progress', data: { ...ids, message: String(message), ...progress, timestamp: now() } }).catch(() => {})
    }
  })
  try {
    const result = await raceAbort(Promise.resolve().then(() => tool.execute(callArgs, ctx)), callSignal.signal)
    if (tool.validateOutput && !tool.validateOutput(result)) {
      throw new RunFailure('invalid_result', `${name} returned an invalid result`)
    }
    await complete('success', { result: result ?? null })
    return result
  } catch (err) {
    const reason = callSignal.signal.reason
    // a lost or stopping process interrupts the call: an error of the platform, not a cancel
    const status: Status = callSignal.signal.aborted
      ? (reason instanceof RunFailure && reason.code === 'timeout' ? 'timeout' : reason instanceof RunFailure && reason.code === 'interrupted' ? 'error' : 'cancelled')
      : 'error'
    const failure = callSignal.signal.aborted ? callSignal.signal.reason : err
    await complete(status, { error: toErrorBody(failure, 'tool_error') })
    throw failure
  } finally {
    callSignal.dispose()
  }
}

/** A tool's `requires_approval`; a predicate that throws asks, to be safe. */
function needsApproval (tool: RegisteredTool, args: Record<string, unknown>): boolean {
  const rule = tool.requires_approval
  if (typeof rule !== 'function') return rule === true
  try { return Boolean(rule(structuredCloneSafe(args))) } catch { return true }
}

function structuredCloneSafe<T> (v: T): T {
  try { return structuredClone(v) } catch { return JSON.parse(JSON.stringify(v ?? null)) }
}
