import type { EventBus } from '../../bus/types.js'
import { threadChannel } from '../../bus/types.js'
import { Errors } from '../../errors.js'
import type { Run, RunFinish, Store } from '../../store/types.js'
import type { UserExecutionContext, Logger, RunScope } from '../context.js'
import { now, type ErrorBody } from '../events.js'
import type { AgentRegistry } from '../registry.js'
import { runAgent, type RunLimits } from './agent-runner.js'
import { RunFailure, cancelled, toErrorBody } from './failures.js'
import { RunEmitter } from './run-emitter.js'

export interface EngineOptions {
  store: Store
  bus: EventBus
  registry: AgentRegistry
  log: Logger
  limits: RunLimits & { runTimeoutMs: number }
}

export interface SubmitRequest {
  content: string
  thread_id?: string
  agent?: string
  input?: Record<string, unknown>
  multitask?: 'reject' | 'enqueue' | 'interrupt'
}

export interface Submitted { message_id: string, thread_id: string, run_id: string, status: 'queued' | 'running' }

interface ActiveRun { scope: RunScope, done: Promise<void> }

/** The final answer kept as the assistant message: a string result, or its `answer`. */
function answerOf (result: unknown): string {
  if (typeof result === 'string') return result
  const answer = (result as { answer?: unknown })?.answer
  return typeof answer === 'string' ? answer : JSON.stringify(result)
}

/** Takes messages, runs their agents and ends every run with exactly one terminal event. */
export function createEngine (opts: EngineOptions) {
  const { store, bus, registry, limits } = opts
  const active = new Map<string, ActiveRun>()
  let accepting = true

  async function submit (user: UserExecutionContext, req: SubmitRequest): Promise<Submitted> {
    if (!accepting) throw new Errors.Unavailable('shutting down')
    const agent = req.agent ?? 'supervisor'
    const registered = registry.agent(agent)
    if (!registered) throw new Errors.UnknownAgent(agent)
    const input = req.input ?? {}
    if (registered.validateInput && !registered.validateInput(input)) {
      const e = registered.validateInput.errors?.[0]
      throw new Errors.InvalidRequest(`input${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`)
    }
    if (req.thread_id !== undefined) {
      const thread = await store.getThread(user.user_id, req.thread_id)
      if (!thread) throw new Errors.NotFound('thread')
      if (thread.active_run_id) throw new Errors.ThreadBusy()
    }
    const { message, run } = await store.createRun({
      user_id: user.user_id, thread_id: req.thread_id, content: req.content, agent, input, status: 'running'
    })
    const scope = user.forRun(run)
    const done = execute(scope, run, req.content)
    active.set(run.run_id, { scope, done })
    // a thread subscriber learns of the new run; its events come on the run's own channel
    await bus.publish(threadChannel(run.thread_id), JSON.stringify({ run_id: run.run_id }))
    return { message_id: message.message_id, thread_id: run.thread_id, run_id: run.run_id, status: 'running' }
  }

  async function execute (scope: RunScope, run: Run, content: string): Promise<void> {
    const emitter = new RunEmitter(run, { store, bus, log: scope.log })
    const timer = setTimeout(() => scope.abort(new RunFailure('timeout', `run timed out after ${limits.runTimeoutMs} ms`, false)), limits.runTimeoutMs)
    timer.unref()
    scope.onCleanup(() => clearTimeout(timer))
    scope.onCleanup(() => active.delete(run.run_id))
    let finish: RunFinish
    try {
      await store.markRunning(run.run_id)
      const result = await runAgent({ scope, emitter, registry, limits, content }, run.agent, run.input ?? {})
      await emitter.emit({ type: 'run_completed', data: { result, timestamp: now() } })
      finish = { status: 'completed', result, answer: answerOf(result) }
    } catch (err) {
      const reason = scope.signal.aborted ? scope.signal.reason : err
      if (!(reason instanceof RunFailure)) scope.log.error({ err: reason }, 'run failed')
      finish = await endAbnormally(emitter, reason)
    }
    try {
      await emitter.settled()
      await store.finishRun(run.run_id, finish)
    } catch (err) {
      scope.log.error({ err }, 'could not record the end of a run')
    } finally {
      await scope.cleanup()
    }
  }

  /** Closes whatever is still open, then the run's one terminal event for `reason`. */
  async function endAbnormally (emitter: RunEmitter, reason: unknown): Promise<RunFinish> {
    const error: ErrorBody = toErrorBody(reason)
    const isCancel = reason instanceof RunFailure && reason.code === 'cancelled'
    try {
      for (const t of emitter.openTools) {
        const { tool_call_id, agent_id, agent_name, tool_name } = t
        await emitter.emit({ type: 'tool_completed', data: { agent_id, agent_name, tool_name, tool_call_id, status: isCancel ? 'cancelled' : 'error', error, duration_ms: 0, timestamp: now() } })
      }
      for (const a of emitter.openAgents) {
        await emitter.emit({ type: 'agent_error', data: { agent_id: a.agent_id, agent_name: a.name, error, retryable: false, attempt: a.attempt, timestamp: now() } })
      }
      if (isCancel) await emitter.emit({ type: 'run_cancelled', data: { reason: error.message, timestamp: now() } })
      else await emitter.emit({ type: 'run_failed', data: { error, timestamp: now() } })
    } catch (err) {
      opts.log.error({ err }, 'could not emit the end of a run')
    }
    return isCancel ? { status: 'cancelled', error } : { status: 'failed', error }
  }

  async function cancel (user: UserExecutionContext, runId: string) {
    const run = await store.getRun(user.user_id, runId)
    if (!run) throw new Errors.NotFound('run')
    const a = active.get(runId)
    if (a) {
      a.scope.abort(cancelled('cancelled by the user'))
      await a.done
      return { run_id: runId, status: (await store.getRun(user.user_id, runId))!.status }
    }
    return { run_id: runId, status: run.status }
  }

  /** Ends runs a previous process left unfinished (`interrupted`), keeping CONTRACT §5 rules 3–4. */
  async function recover (): Promise<number> {
    const runs = await store.listUnfinishedRuns()
    for (const run of runs) {
      const history = (await store.listEvents(run.user_id, run.run_id, 0)) ?? []
      const log = opts.log.child({ run_id: run.run_id, user_id: run.user_id })
      const emitter = new RunEmitter(run, { store, bus, log }, history)
      const last = history.at(-1)
      let finish: RunFinish
      if (emitter.ended && last) {
        // the terminal event was stored, only the run row was not updated
        const d = last.data as { result?: unknown, error?: ErrorBody }
        finish = last.type === 'run_completed'
          ? { status: 'completed', result: d.result, answer: answerOf(d.result) }
          : { status: last.type === 'run_cancelled' ? 'cancelled' : 'failed', error: d.error ?? { code: 'cancelled', message: 'cancelled' } }
      } else {
        finish = await endAbnormally(emitter, new RunFailure('interrupted', 'the process running this run stopped', false))
      }
      await emitter.settled()
      await store.finishRun(run.run_id, finish)
      log.warn({ status: finish.status }, 'ended a run left unfinished by a previous process')
    }
    return runs.length
  }

  /** Stops taking runs, gives running ones `graceMs`, then cancels the rest and waits for their end. */
  async function close (graceMs = 0): Promise<void> {
    accepting = false
    const all = () => Promise.allSettled([...active.values()].map((a) => a.done))
    if (active.size && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([all(), new Promise((resolve) => { timer = setTimeout(resolve, graceMs) })])
      clearTimeout(timer)
    }
    for (const a of active.values()) a.scope.abort(new RunFailure('interrupted', 'the server is shutting down', false))
    await all()
  }

  return {
    submit,
    cancel,
    recover,
    close,
    get accepting () { return accepting },
    get activeRuns () { return active.size }
  }
}

export type Engine = ReturnType<typeof createEngine>
