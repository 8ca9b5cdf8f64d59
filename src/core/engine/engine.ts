import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Ajv } from 'ajv'
import type { EventBus } from '../../bus/types.js'
import type { Config } from '../../config.js'
import { threadChannel } from '../../bus/types.js'
import { Errors } from '../../errors.js'
import { ACTIVE_STATUSES, FencedError, type ClaimedRun, type Run, type RunFinish, type RunStatus, type Store } from '../../store/types.js'
import { UserExecutionContext, type Logger, type RunScope } from '../context.js'
import { now, type ErrorBody, type EventData, type EventInput, type ResumeRequest, type RunEvent } from '../events.js'
import type { AgentRegistry } from '../registry.js'
import { runAgent, type RunLimits } from './agent-runner.js'
import { AnswerStream } from './answer-stream.js'
import { RunFailure, cancelled, interruption, isInterruption, toErrorBody, waitAwareTimer } from './failures.js'
import { RunInputs } from './interrupts.js'
import { resumePlan } from './resume.js'
import { writerFor } from './event-writer.js'
import { MAX_EVENT_BYTES, RunEmitter, eventBytes } from './run-emitter.js'

/** Bus channels of the engine: a run to cancel (`{"run_id"}`), and a wake-up for claimers. */
export const CANCEL_CHANNEL = 'cancel'
export const QUEUE_CHANNEL = 'queue'
/** an answer to an interrupt was stored: `{"run_id","interrupt_id"}`, for the run's owner */
export const INPUT_CHANNEL = 'input'

export interface EngineOptions {
  store: Store
  bus: EventBus
  registry: AgentRegistry
  log: Logger
  /** told of every run's end, queue wait, agent attempt and tool call, for metrics */
  metrics?: EngineMetrics
  limits: RunLimits & Pick<Config['limits'], 'runTimeoutMs' | 'runsPerUser' | 'queuedPerUser' | 'runsGlobal' | 'leaseMs'>
  /** this process's name as a lease holder */
  owner?: string
  /** the clock leases are counted in, epoch ms; tests pin it */
  clock?: () => number
  /** false: no lease or sweep timers, the test steps `renew()` and `sweep()` itself */
  timers?: boolean
  /** takes one message from the user's allowance or throws `rate_limited` (absent: no limit) */
  rateLimit?: (userId: string) => Promise<void>
}

/** What the engine tells metrics; durations in seconds. */
export interface EngineMetrics {
  /** a run's terminal event is stored; `seconds` since its first start (absent: it never started) */
  runEnded (status: RunFinish['status'], seconds: number | undefined): void
  /** a run was claimed for the first time, `seconds` after it was created */
  runStarted (queuedSeconds: number): void
  /** an agent attempt closed; `code` when it failed */
  agentEnded (agent: string, seconds: number, code?: string): void
  /** a tool call closed; `tool` is empty for a name no tool is registered under, `code` set when it failed */
  toolEnded (tool: string, seconds: number, code?: string): void
}

export interface SubmitRequest {
  content: string
  thread_id?: string
  agent?: string
  input?: Record<string, unknown>
  multitask?: 'reject' | 'enqueue' | 'interrupt'
}

export interface Submitted { message_id: string, thread_id: string, run_id: string, status: 'queued' | 'running' }

/** A run this process holds the lease of, from its claim to its end or handover. */
interface ActiveRun {
  run: Run
  epoch: number
  content: string
  scope: RunScope
  emitter?: RunEmitter
  /** the run's interrupts; `waiting` runs hold no run slot */
  inputs?: RunInputs
  /** what the store says: `waiting` or not, and the write that makes it so */
  storedWaiting: boolean
  waitSync: Promise<void>
  /** the lease was lost to another process: write nothing more */
  lost: boolean
  /** resolves when the run has ended, been handed over or been lost here */
  done: Promise<void>
  settle: () => void
}

/** The final answer kept as the assistant message: a string result, or its `answer`. */
function answerOf (result: unknown): string {
  if (typeof result === 'string') return result
  const answer = (result as { answer?: unknown })?.answer
  return typeof answer === 'string' ? answer : JSON.stringify(result)
}

const CANCEL_WAIT_MS = 5000

/**
 * Takes messages, runs their agents and ends every run with exactly one terminal event. Runs
 * are rows: this process claims queued runs and runs whose holder is gone, holds a lease on each,
 * and goes on with a taken-over run from its stored events. Any number of processes may share
 * one store; one process alone runs the same code.
 */
export function createEngine (opts: EngineOptions) {
  const { store, bus, registry, limits, log } = opts
  const owner = opts.owner ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const clock = opts.clock ?? Date.now
  const active = new Map<string, ActiveRun>()
  const offs: Array<() => Promise<void>> = []
  const timers: NodeJS.Timeout[] = []
  let accepting = true
  let pumping: Promise<void> | undefined
  let pumpWaiters: Array<{ resolve: () => void, reject: (err: unknown) => void }> = []
  /** runs submitted here and not yet told whether this process claimed them: run_id → claimed */
  const submitted = new Map<string, boolean>()

  async function start () {
    offs.push(await bus.subscribe(QUEUE_CHANNEL, () => { pump().catch(() => {}) }))
    offs.push(await bus.subscribe(CANCEL_CHANNEL, (message) => {
      const entry = active.get((JSON.parse(message) as { run_id: string }).run_id)
      entry?.scope.abort(cancelled('cancelled by the user'))
    }))
    offs.push(await bus.subscribe(INPUT_CHANNEL, (message) => {
      const { run_id, interrupt_id } = JSON.parse(message) as { run_id: string, interrupt_id: string }
      active.get(run_id)?.inputs?.notify(interrupt_id)
    }))
    if (opts.timers !== false) {
      const every = (ms: number, fn: () => Promise<unknown>) => {
        const timer = setInterval(() => { fn().catch((err) => log.error({ err }, 'engine housekeeping failed')) }, ms)
        timer.unref()
        timers.push(timer)
      }
      every(Math.max(1, Math.floor(limits.leaseMs / 3)), renew)
      every(Math.max(1, Math.floor(limits.leaseMs / 2)), sweep)
    }
    await pump()
  }

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
    const multitask = req.multitask ?? 'reject'
    if (req.thread_id !== undefined && multitask === 'interrupt') {
      if (!await store.getThread(user.user_id, req.thread_id)) throw new Errors.NotFound('thread')
      // newest first: a run waiting its turn is gone before the run it waits for ends
      const runs = (await store.listActiveRuns(req.thread_id)).reverse()
      for (const run of runs) await requestCancel(user, run.run_id)
      for (const run of runs) await waitForEnd(user, run.run_id)
    }
    let claimedHere = false
    const { message, run, position } = await store.createRun({
      user_id: user.user_id,
      thread_id: req.thread_id,
      content: req.content,
      agent,
      input,
      multitask,
      limits: { perUser: limits.runsPerUser, queuedPerUser: limits.queuedPerUser }
    })
    submitted.set(run.run_id, false)
    // a thread subscriber learns of the new run; its events come on the run's own channel
    await bus.publish(threadChannel(run.thread_id), JSON.stringify({ run_id: run.run_id }))
      .catch((err: unknown) => log.warn({ err }, 'announcing a run on its thread failed'))
    try {
      await pump()
    } finally {
      // a claimed run may have ended already: whether it was claimed here is what counts
      claimedHere = submitted.get(run.run_id) === true || active.has(run.run_id)
      submitted.delete(run.run_id)
    }
    if (claimedHere) return { message_id: message.message_id, thread_id: run.thread_id, run_id: run.run_id, status: 'running' }

    // not claimed here: it waits, and says so unless a process claimed it meanwhile (the fence)
    const emitter = new RunEmitter(run, { store, bus, log: user.log, epoch: 0 })
    await emitter.emit({ type: 'run_queued', data: { position, timestamp: now() } }).catch((err: unknown) => {
      if (!(err instanceof FencedError)) throw err
    })
    await bus.publish(QUEUE_CHANNEL, '{}').catch(() => {})
    return { message_id: message.message_id, thread_id: run.thread_id, run_id: run.run_id, status: 'queued' }
  }

  /** runs holding a slot of this process: a waiting run holds none */
  const busy = () => { let n = 0; for (const a of active.values()) if (!a.inputs?.waiting) n++; return n }

  /**
   * Claims what this process has room for, one claim round at a time. Resolves once a round that
   * began after the call has ended: calls that come while a round runs share the next one, so a
   * burst of messages costs a round or two, not one each, and no caller waits for rounds after its own.
   */
  function pump (): Promise<void> {
    return new Promise((resolve, reject) => {
      pumpWaiters.push({ resolve, reject })
      pumping ??= pumpRounds().finally(() => { pumping = undefined })
    })
  }

  async function pumpRounds () {
    while (pumpWaiters.length) {
      const round = pumpWaiters
      pumpWaiters = []
      try {
        await claimRound()
        for (const w of round) w.resolve()
      } catch (err) {
        for (const w of round) w.reject(err)
      }
    }
  }

  /** One round: a claim asks for all the room there is; only a claim that filled it is followed by another. */
  async function claimRound () {
    const room = () => (accepting ? limits.runsGlobal - busy() : 0)
    for (let limit = room(); limit > 0; limit = room()) {
      const claimed = await store.claimRuns({ owner, now: clock(), leaseMs: limits.leaseMs, perUser: limits.runsPerUser, limit })
      for (const c of claimed) begin(c)
      if (claimed.length < limit) return
    }
  }

  /** Runs a claimed run: a new one from its start, a taken-over one from its stored events. */
  function begin (c: ClaimedRun) {
    const user = UserExecutionContext.create({ user_id: c.run.user_id, log })
    let settle!: () => void
    const done = new Promise<void>((resolve) => { settle = resolve })
    const entry: ActiveRun = { run: c.run, epoch: c.epoch, content: c.content, scope: user.forRun(c.run), lost: false, done, settle, storedWaiting: c.run.status === 'waiting', waitSync: Promise.resolve() }
    active.set(c.run.run_id, entry)
    // every claim bumps the epoch: the first one starts the run (unless it was only claimed to be cancelled)
    if (c.epoch === 1 && c.run.started_at) opts.metrics?.runStarted((Date.parse(c.run.started_at) - Date.parse(c.run.created_at)) / 1000)
    if (submitted.has(c.run.run_id)) submitted.set(c.run.run_id, true)
    if (c.cancel_requested) entry.scope.abort(cancelled('cancelled by the user'))
    proceed(entry).catch((err) => entry.scope.log.error({ err }, 'running a claimed run failed'))
  }

  async function proceed (entry: ActiveRun) {
    const { run, scope } = entry
    try {
      const history = run.last_seq > 0 ? (await store.listEvents(run.user_id, run.run_id, 0)) ?? [] : []
      // a write the store refused stops the run here: fenced, another process has it; failed, the
      // lease goes (or lapses) and whoever claims it next goes on from what was stored
      const onFailure = (err: Error) => {
        if (err instanceof FencedError) entry.lost = true
        scope.abort(interruption(err instanceof FencedError ? 'the run was taken over by another process' : 'the store failed'))
      }
      const emitter = entry.emitter = new RunEmitter(run, { store, bus, log: scope.log, epoch: entry.epoch, onFailure }, history)
      if (emitter.ended) {
        // the terminal event was stored, only the run row was not finished
        await finishRow(entry, history.at(-1)!)
      } else if (scope.signal.aborted && !history.some((e) => e.type === 'agent_started')) {
        // cancelled before it ever started
        await endAbnormally(entry, scope.signal.reason)
      } else {
        const closings = await closeInterrupted(entry)
        if (closings !== undefined) await execute(entry, [...history, ...closings])
      }
    } catch (err) {
      scope.log.error({ err }, 'a claimed run could not go on')
    } finally {
      await release(entry)
    }
  }

  /**
   * A run taken over: its open tool calls and agents end `interrupted` first. Resolves with those
   * closing events, or undefined when something open may not run twice and the run has failed.
   */
  async function closeInterrupted (entry: ActiveRun): Promise<RunEvent[] | undefined> {
    const emitter = entry.emitter!
    const tools = emitter.openTools
    const agents = emitter.openAgents
    if (!tools.length && !agents.length) return []
    const resumable = tools.every((t) => registry.tool(t.tool_name)?.resumable !== false) &&
      agents.every((a) => registry.agent(a.name)?.definition.resumable !== false)
    const error: ErrorBody = { code: 'interrupted', message: 'the process running this run stopped' }
    const closings: EventInput[] = [
      ...tools.map(({ tool_call_id, agent_id, agent_name, tool_name }) => ({
        type: 'tool_completed' as const,
        data: { agent_id, agent_name, tool_name, tool_call_id, status: 'error' as const, error, duration_ms: 0, timestamp: now() }
      })),
      ...agents.reverse().map((a) => ({
        type: 'agent_error' as const,
        data: { agent_id: a.agent_id, agent_name: a.name, error, retryable: resumable, attempt: a.attempt, timestamp: now() }
      }))
    ]
    for (const e of closings) await emitter.emit(e)
    entry.scope.log.warn({ resumable }, 'took over a run whose process was lost')
    if (!resumable) {
      await endWith(entry, { type: 'run_failed', data: { error: { ...error, message: 'the process running this run stopped, and it may not run twice' }, timestamp: now() } }, { status: 'failed', error })
      return undefined
    }
    return closings as RunEvent[]
  }

  async function execute (entry: ActiveRun, history: readonly RunEvent[]): Promise<void> {
    const { scope, run } = entry
    const emitter = entry.emitter!
    const inputs = entry.inputs = new RunInputs({ store, emitter, run_id: run.run_id, onWaiting: () => syncWaiting(entry) }, history)
    const answer = new AnswerStream(emitter, history)
    // the run's deadline counts from its first start, across takeovers, without the time spent waiting for people
    const startedAt = run.started_at ? Date.parse(run.started_at) : Date.now()
    const left = Math.max(0, limits.runTimeoutMs - (Date.now() - startedAt - inputs.waited()))
    const timer = waitAwareTimer(left, () => scope.abort(new RunFailure('timeout', `run timed out after ${limits.runTimeoutMs} ms`, false)), inputs)
    scope.onCleanup(() => timer.clear())
    try {
      if (scope.signal.aborted) throw scope.signal.reason
      const resume = history.length ? resumePlan(history) : undefined
      const result = await runAgent({ scope, emitter, registry, limits, content: entry.content, resume, inputs, answer, metrics: opts.metrics }, run.agent, run.input ?? {})
      // queued in the tick of the root's agent_completed (not awaited in between): the three are stored in one
      // transaction, so a run taken over never finds its root completed without run_completed and its result
      // (a failed write of that transaction is endWith's to handle)
      answer.finish(answerOf(result)).catch(() => {})
      await endWith(entry, { type: 'run_completed', data: { result, timestamp: now() } }, { status: 'completed', result, answer: answerOf(result) })
    } catch (err) {
      const reason = scope.signal.aborted ? scope.signal.reason : err
      if (entry.lost || emitter.fenced) return
      if (isInterruption(reason)) { await handOver(entry); return }
      if (!(reason instanceof RunFailure)) scope.log.error({ err: reason }, 'run failed')
      await endAbnormally(entry, reason)
    }
  }

  /** This process stops: the run's lease goes, so another process takes it over at once. */
  async function handOver (entry: ActiveRun) {
    await entry.emitter!.settled()
    if (entry.emitter!.fenced) return
    try {
      if (await store.releaseRun(entry.run.run_id, entry.epoch)) {
        entry.scope.log.info('handed the run over to another process')
        await bus.publish(QUEUE_CHANNEL, '{}').catch(() => {})
      }
    } catch (err) {
      // the lease is no longer renewed: it lapses, and the run is claimed again
      entry.scope.log.error({ err }, 'could not hand the run over; its lease will lapse')
    }
  }

  /** The run's terminal event; the run row is finished after the event is stored, before it is published. */
  async function endWith (entry: ActiveRun, terminal: EventInput, finish: RunFinish) {
    try {
      // an interrupt still open when the run ends is closed with it
      for (const i of entry.emitter!.openInputs) {
        await entry.emitter!.emit({ type: 'input_received', data: { interrupt_id: i.interrupt_id, agent_id: i.agent_id, agent_name: i.agent_name, kind: i.kind, by: 'cancel', timestamp: now() } })
      }
      await entry.emitter!.emit(terminal, () => store.finishRun(entry.run.run_id, entry.epoch, finish))
      const startedAt = entry.run.started_at
      opts.metrics?.runEnded(finish.status, startedAt ? Math.max(0, Date.now() - Date.parse(startedAt)) / 1000 : undefined)
    } catch (err) {
      if (!(err instanceof FencedError)) entry.scope.log.error({ err }, 'could not record the end of a run')
    }
  }

  async function finishRow (entry: ActiveRun, last: RunEvent) {
    const d = last.data as { result?: unknown, error?: ErrorBody }
    await store.finishRun(entry.run.run_id, entry.epoch, last.type === 'run_completed'
      ? { status: 'completed', result: d.result, answer: answerOf(d.result) }
      : { status: last.type === 'run_cancelled' ? 'cancelled' : 'failed', error: d.error ?? { code: 'cancelled', message: 'cancelled' } })
  }

  /** Closes whatever is still open, then ends the run with its one terminal event for `reason`. */
  async function endAbnormally (entry: ActiveRun, reason: unknown): Promise<void> {
    const emitter = entry.emitter!
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
      if (!emitter.fenced) entry.scope.log.error({ err }, 'could not close the open agents and tools of a run')
    }
    if (isCancel) await endWith(entry, { type: 'run_cancelled', data: { reason: error.message, timestamp: now() } }, { status: 'cancelled', error })
    else await endWith(entry, { type: 'run_failed', data: { error, timestamp: now() } }, { status: 'failed', error })
  }

  /** Makes the run's status in the store say whether it waits for an answer; a run that waits frees its slot. */
  function syncWaiting (entry: ActiveRun): Promise<void> {
    entry.waitSync = entry.waitSync.then(async () => {
      const waiting = entry.inputs?.waiting ?? false
      if (waiting === entry.storedWaiting || entry.lost) return
      if (await store.setWaiting(entry.run.run_id, entry.epoch, waiting)) entry.storedWaiting = waiting
      if (waiting) pump().catch((err) => log.error({ err }, 'claiming runs failed'))
    }).catch((err) => entry.scope.log.error({ err }, 'could not record whether the run waits'))
    return entry.waitSync
  }

  /**
   * The owner's answer to an interrupt (CONTRACT §5.6), on any process: checked against the
   * interrupt's schema, stored (the first answer wins), and the run's holder told.
   */
  async function resume (user: UserExecutionContext, runId: string, req: ResumeRequest) {
    const run = await store.getRun(user.user_id, runId)
    if (!run) throw new Errors.NotFound('run')
    const events = (await store.listEvents(user.user_id, runId, 0)) ?? []
    const asked = events.find((e) => e.type === 'input_requested' && (e.data as { interrupt_id: string }).interrupt_id === req.interrupt_id)
    if (!asked) throw new Errors.NotFound('interrupt')
    const d = asked.data as EventData<'input_requested'>
    if (!ACTIVE_STATUSES.includes(run.status)) throw new Errors.InterruptClosed('the run has ended')
    if (events.some((e) => e.type === 'input_received' && (e.data as { interrupt_id: string }).interrupt_id === req.interrupt_id)) throw new Errors.InterruptClosed('the interrupt was answered already')
    if (Date.parse(d.expires_at) <= Date.now()) throw new Errors.InterruptClosed('the interrupt has expired')
    let body: Record<string, unknown>
    if (d.kind === 'approval') {
      if (req.decision === undefined || 'answer' in req) throw new Errors.InvalidRequest('an approval is answered with a decision ("approve" or "reject"), not an answer')
      if (req.arguments !== undefined && req.decision !== 'approve') throw new Errors.InvalidRequest('arguments go with "approve" only')
      body = { decision: req.decision, ...(req.reason !== undefined && { reason: req.reason }), ...(req.arguments !== undefined && { arguments: req.arguments }) }
    } else {
      if (!('answer' in req) || req.decision !== undefined || req.reason !== undefined || req.arguments !== undefined) throw new Errors.InvalidRequest('a question is answered with an answer')
      body = { answer: req.answer }
    }
    const validate = new Ajv({ strict: false, allErrors: false }).compile(d.schema as object)
    const value = d.kind === 'approval' ? body : body.answer
    if (!validate(value)) {
      const e = validate.errors?.[0]
      throw new Errors.InvalidRequest(`${d.kind === 'approval' ? '' : 'answer'}${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`.trim())
    }
    // the run records the answer in an event: one too large for an event is refused before it is stored
    const received = { type: 'input_received', data: { agent_id: d.agent_id, agent_name: d.agent_name, interrupt_id: req.interrupt_id, kind: d.kind, by: 'user', ...body, timestamp: now() } } as EventInput
    const bytes = eventBytes(run, received)
    if (bytes > MAX_EVENT_BYTES) throw new Errors.PayloadTooLarge(`the answer makes an event of ${bytes} bytes; a run event holds at most ${MAX_EVENT_BYTES}`)
    if (!await store.storeInput(runId, { interrupt_id: req.interrupt_id, by: 'user', body })) throw new Errors.InterruptClosed('the interrupt was answered already')
    const local = active.get(runId)
    if (local) local.inputs?.notify(req.interrupt_id)
    else await bus.publish(INPUT_CHANNEL, JSON.stringify({ run_id: runId, interrupt_id: req.interrupt_id })).catch((err: unknown) => log.warn({ err }, 'publishing an answer failed; the run finds it when it is taken over'))
    return { run_id: runId, interrupt_id: req.interrupt_id }
  }

  /** Lets go of a run once its events are all stored; its slot goes to the next claim. */
  async function release (entry: ActiveRun) {
    try {
      await entry.emitter?.settled()
    } finally {
      active.delete(entry.run.run_id)
      await entry.scope.cleanup()
      entry.settle()
      if (accepting) pump().catch((err) => log.error({ err }, 'claiming runs failed'))
    }
  }

  /** Extends this process's leases; a run whose lease another process took stops here, silently. */
  async function renew () {
    // only the runs held when the renewal began: one claimed meanwhile has a fresh lease anyway
    const mine = [...active.values()]
    const held = new Map((await store.renewLeases(owner, mine.map((e) => e.run.run_id), clock(), limits.leaseMs)).map((h) => [h.run_id, h]))
    for (const entry of mine) {
      if (active.get(entry.run.run_id) !== entry || entry.emitter?.ended) continue
      const h = held.get(entry.run.run_id)
      if (!h || h.epoch !== entry.epoch) {
        entry.lost = true
        entry.scope.log.warn('the run was taken over by another process: stopping it here')
        entry.scope.abort(interruption('the run was taken over by another process'))
      } else if (h.cancel_requested) {
        entry.scope.abort(cancelled('cancelled by the user'))
      }
    }
  }

  /** Takes over runs whose holder is gone and starts queued ones there is room for. */
  async function sweep () {
    await pump()
  }

  /** Asks for the run's cancel wherever it runs; a queued run is claimed here and ended without starting. */
  async function requestCancel (user: UserExecutionContext, runId: string): Promise<Run> {
    const run = await store.requestCancel(user.user_id, runId)
    if (!run) throw new Errors.NotFound('run')
    if (!ACTIVE_STATUSES.includes(run.status)) return run
    const local = active.get(runId)
    if (local) {
      local.scope.abort(cancelled('cancelled by the user'))
      return run
    }
    await bus.publish(CANCEL_CHANNEL, JSON.stringify({ run_id: runId })).catch((err: unknown) => log.warn({ err }, 'publishing a cancel failed; the owner sees it at its next lease renewal'))
    if (run.status === 'queued') {
      const claimed = await store.claimRuns({ owner, now: clock(), leaseMs: limits.leaseMs, perUser: limits.runsPerUser, limit: 1, runId })
      for (const c of claimed) begin(c)
    }
    return run
  }

  /** The run's status once it has ended, or after a few seconds its status then. */
  async function waitForEnd (user: UserExecutionContext, runId: string): Promise<RunStatus> {
    const local = active.get(runId)
    if (local) await local.done
    let wait = 10
    for (let spent = 0; ; spent += wait, wait = Math.min(wait * 2, 250)) {
      const run = await store.getRun(user.user_id, runId)
      if (!run || !ACTIVE_STATUSES.includes(run.status) || spent >= CANCEL_WAIT_MS) return run?.status ?? 'cancelled'
      await sleep(wait)
    }
  }

  async function cancel (user: UserExecutionContext, runId: string) {
    const run = await requestCancel(user, runId)
    if (!ACTIVE_STATUSES.includes(run.status)) return { run_id: runId, status: run.status }
    return { run_id: runId, status: await waitForEnd(user, runId) }
  }

  /**
   * Stops claiming and gives running runs `graceMs`; the rest are handed over (their open work
   * ends `interrupted`, the lease goes), so another process, or this one after a restart, goes on.
   */
  async function close (graceMs = 0): Promise<void> {
    accepting = false
    for (const t of timers) clearInterval(t)
    await pumping
    const all = () => Promise.allSettled([...active.values()].map((a) => a.done))
    // a run waiting for a person would only hold the drain up: it goes to another process at once
    for (const a of active.values()) if (a.inputs?.waiting) a.scope.abort(interruption('the server is shutting down'))
    if (active.size && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([all(), new Promise((resolve) => { timer = setTimeout(resolve, graceMs) })])
      clearTimeout(timer)
    }
    for (const a of active.values()) a.scope.abort(interruption('the server is shutting down'))
    await all()
    for (const off of offs.splice(0)) await off().catch(() => {})
  }

  return {
    start,
    submit,
    cancel,
    resume,
    close,
    renew,
    sweep,
    owner,
    get accepting () { return accepting },
    /** the last group commit of run events failed, even after its retries */
    get storeFailing () { return writerFor(store).failing },
    /** while `storeFailing`: a real write; it clears `storeFailing` when it succeeds, rejects with the store's error when not */
    probeStore: () => writerFor(store).probe(),
    get activeRuns () { return active.size },
    /** runs running in this process, and runs queued in the store for any process */
    stats: async () => ({ running: active.size, waiting: await store.countQueued() })
  }
}

export type Engine = ReturnType<typeof createEngine>
