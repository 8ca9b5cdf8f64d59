import type { EventBus } from '../../bus/types.js'
import type { Config } from '../../config.js'
import { threadChannel } from '../../bus/types.js'
import { Errors } from '../../errors.js'
import type { Run, RunFinish, Store } from '../../store/types.js'
import type { UserExecutionContext, Logger, RunScope } from '../context.js'
import { now, type ErrorBody, type EventInput } from '../events.js'
import type { AgentRegistry } from '../registry.js'
import { runAgent, type RunLimits } from './agent-runner.js'
import { RunFailure, cancelled, toErrorBody } from './failures.js'
import { RunEmitter } from './run-emitter.js'
import { createScheduler } from './scheduler.js'

export interface EngineOptions {
  store: Store
  bus: EventBus
  registry: AgentRegistry
  log: Logger
  /** told of every run's end, e.g. for metrics */
  onRunEnd?: (status: RunFinish['status']) => void
  /** takes one message from the user's allowance or throws `rate_limited` */
  rateLimit?: (userId: string) => Promise<void>
  limits: RunLimits & Pick<Config['limits'], 'runTimeoutMs' | 'runsPerUser' | 'queuedPerUser' | 'runsGlobal'>
}

export interface SubmitRequest {
  content: string
  thread_id?: string
  agent?: string
  input?: Record<string, unknown>
  multitask?: 'reject' | 'enqueue' | 'interrupt'
}

export interface Submitted { message_id: string, thread_id: string, run_id: string, status: 'queued' | 'running' }

/** A run this process owns, from admission to its end. */
interface ActiveRun {
  run: Run
  content: string
  scope: RunScope
  emitter: RunEmitter
  started: boolean
  /** resolves when the run has ended and its end is stored, whether it ever started or not */
  done: Promise<void>
  /** resolves when this run and every run enqueued ahead of it on its thread have ended */
  turn: Promise<void>
  ended: () => void
}

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
  const scheduler = createScheduler({ perUser: limits.runsPerUser, queuePerUser: limits.queuedPerUser, global: limits.runsGlobal })
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
    await opts.rateLimit?.(user.user_id)
    scheduler.check(user.user_id)
    let previous: ActiveRun | undefined
    if (req.thread_id !== undefined) {
      const thread = await store.getThread(user.user_id, req.thread_id)
      if (!thread) throw new Errors.NotFound('thread')
      const onThread = [...active.values()].filter((a) => a.run.thread_id === thread.thread_id)
      if ((thread.active_run_id || onThread.length) && (req.multitask ?? 'reject') === 'reject') throw new Errors.ThreadBusy()
      // newest first: a run waiting its turn is gone before the run it waits for ends
      if (req.multitask === 'interrupt') for (const a of [...onThread].reverse()) await cancel(user, a.run.run_id)
      // `active` keeps admission order: the last run on the thread is the one to wait for
      if (req.multitask === 'enqueue') previous = onThread.at(-1)
    }
    const { message, run } = await store.createRun({
      user_id: user.user_id, thread_id: req.thread_id, content: req.content, agent, input, status: 'queued'
    })
    const scope = user.forRun(run)
    let ended!: () => void
    const done = new Promise<void>((resolve) => { ended = resolve })
    const entry: ActiveRun = {
      run,
      content: req.content,
      scope,
      emitter: new RunEmitter(run, { store, bus, log: scope.log }),
      started: false,
      done,
      // a cancelled run waiting its turn must not let the runs behind it overtake the ones ahead
      turn: previous ? Promise.all([previous.turn, done]).then(() => {}) : done,
      ended
    }
    active.set(run.run_id, entry)
    // a thread subscriber learns of the new run; its events come on the run's own channel
    await bus.publish(threadChannel(run.thread_id), JSON.stringify({ run_id: run.run_id }))

    let status: Submitted['status'] = 'queued'
    if (previous) {
      await entry.emitter.emit({ type: 'run_queued', data: { position: 1, timestamp: now() } })
      previous.turn.then(() => { if (!entry.scope.signal.aborted) admit(entry) })
    } else {
      status = await admit(entry)
    }
    return { message_id: message.message_id, thread_id: run.thread_id, run_id: run.run_id, status }
  }

  /** Starts the run in a free slot, or queues it with `run_queued`. */
  async function admit (entry: ActiveRun): Promise<Submitted['status']> {
    const user = entry.run.user_id
    const admitted = scheduler.admit(user, entry.run.run_id, () => {
      entry.started = true
      execute(entry).finally(() => { scheduler.release(user); entry.ended() })
    })
    if (admitted.status === 'queued') {
      await entry.emitter.emit({ type: 'run_queued', data: { position: admitted.position, timestamp: now() } })
    }
    return admitted.status
  }

  async function execute (entry: ActiveRun): Promise<void> {
    const { scope, emitter, run } = entry
    const timer = setTimeout(() => scope.abort(new RunFailure('timeout', `run timed out after ${limits.runTimeoutMs} ms`, false)), limits.runTimeoutMs)
    timer.unref()
    scope.onCleanup(() => clearTimeout(timer))
    try {
      if (scope.signal.aborted) throw scope.signal.reason
      await store.markRunning(run.run_id)
      const result = await runAgent({ scope, emitter, registry, limits, content: entry.content }, run.agent, run.input ?? {})
      await finishWith(emitter, { type: 'run_completed', data: { result, timestamp: now() } }, { status: 'completed', result, answer: answerOf(result) })
    } catch (err) {
      const reason = scope.signal.aborted ? scope.signal.reason : err
      if (!(reason instanceof RunFailure)) scope.log.error({ err: reason }, 'run failed')
      await endAbnormally(emitter, reason)
    }
    await release(entry)
  }

  /** The run's terminal event; the run row is finished after the event is stored, before it is published. */
  async function finishWith (emitter: RunEmitter, terminal: EventInput, finish: RunFinish) {
    try {
      await emitter.emit(terminal, () => store.finishRun(emitter.runId, finish))
      opts.onRunEnd?.(finish.status)
    } catch (err) {
      opts.log.error({ err, run_id: emitter.runId }, 'could not record the end of a run')
    }
  }

  /** Releases everything a run held, once its events are all stored. */
  async function release (entry: ActiveRun) {
    try {
      await entry.emitter.settled()
    } finally {
      active.delete(entry.run.run_id)
      await entry.scope.cleanup()
    }
  }

  /** Closes whatever is still open, then ends the run with its one terminal event for `reason`. */
  async function endAbnormally (emitter: RunEmitter, reason: unknown): Promise<void> {
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
    } catch (err) {
      opts.log.error({ err }, 'could not close the open agents and tools of a run')
    }
    if (isCancel) await finishWith(emitter, { type: 'run_cancelled', data: { reason: error.message, timestamp: now() } }, { status: 'cancelled', error })
    else await finishWith(emitter, { type: 'run_failed', data: { error, timestamp: now() } }, { status: 'failed', error })
  }

  async function cancel (user: UserExecutionContext, runId: string) {
    const run = await store.getRun(user.user_id, runId)
    if (!run) throw new Errors.NotFound('run')
    const entry = active.get(runId)
    if (entry) {
      const wasAborted = entry.scope.signal.aborted
      entry.scope.abort(cancelled('cancelled by the user'))
      // a run that never started ends here, without starting
      if (!entry.started && !wasAborted) {
        scheduler.dequeue(run.user_id, runId)
        await endAbnormally(entry.emitter, entry.scope.signal.reason)
        await release(entry)
        entry.ended()
      }
      await entry.done
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
      if (emitter.ended && last) {
        // the terminal event was stored, only the run row was not updated
        const d = last.data as { result?: unknown, error?: ErrorBody }
        await store.finishRun(run.run_id, last.type === 'run_completed'
          ? { status: 'completed', result: d.result, answer: answerOf(d.result) }
          : { status: last.type === 'run_cancelled' ? 'cancelled' : 'failed', error: d.error ?? { code: 'cancelled', message: 'cancelled' } })
      } else {
        await endAbnormally(emitter, new RunFailure('interrupted', 'the process running this run stopped', false))
      }
      await emitter.settled()
      log.warn('ended a run left unfinished by a previous process')
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
    for (const a of active.values()) {
      a.scope.abort(new RunFailure('interrupted', 'the server is shutting down', false))
      if (!a.started) {
        scheduler.dequeue(a.run.user_id, a.run.run_id)
        await endAbnormally(a.emitter, a.scope.signal.reason)
        await release(a)
        a.ended()
      }
    }
    await all()
  }

  return {
    submit,
    cancel,
    recover,
    close,
    get accepting () { return accepting },
    get activeRuns () { return active.size },
    stats: () => scheduler.stats()
  }
}

export type Engine = ReturnType<typeof createEngine>
