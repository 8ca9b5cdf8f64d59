import type { TSchema } from '@sinclair/typebox'
import type { TypeCheck } from '@sinclair/typebox/compiler'
import type { EventBus } from '../../bus/types.js'
import { runChannel } from '../../bus/types.js'
import { FencedError, type Store } from '../../store/types.js'
import { writerFor } from './event-writer.js'
import type { Logger } from '../context.js'
import { EventDataChecks, TERMINAL_TYPES, eventJson, firstError, type EventInput, type LocalEvents, type RunEvent } from '../events.js'
import { RunFailure } from './failures.js'

/** When a failed publish of a flush is tried again (ms after each failure). */
const PUBLISH_RETRIES_MS = [1000, 2000, 4000, 8000, 16000, 32000]

export class ContractViolation extends Error {
  override name = 'ContractViolation'
}

/**
 * The most bytes of JSON one run event may hold (CONTRACT §5), so that its frame, a WebSocket text
 * frame or an SSE block with its `id:` and `event:` lines, stays within 64 KiB.
 */
export const MAX_EVENT_BYTES = 64_000

/** Events whose text may be sent in pieces: several events of the same type, in order. */
const SPLIT_FIELD: Partial<Record<RunEvent['type'], 'thought' | 'delta'>> = { agent_thinking: 'thought', answer_delta: 'delta' }

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value))

/** An event the agent or tool emits would be over MAX_EVENT_BYTES: the call that emits it throws this. */
export const eventTooLarge = (type: string, bytes: number) =>
  new RunFailure('event_too_large', `${type} would be ${bytes} bytes of JSON; a run event holds at most ${MAX_EVENT_BYTES}`)

/** The size of an event of this run as JSON, counting its `seq` at its longest. */
export function eventBytes (ids: RunIds, input: EventInput): number {
  return jsonBytes({ type: input.type, seq: Number.MAX_SAFE_INTEGER, run_id: ids.run_id, thread_id: ids.thread_id, user_id: ids.user_id, data: input.data })
}

/** UTF-8 bytes of one code point inside a JSON string, escaped as JSON.stringify escapes it. */
function escapedBytes (cp: number): number {
  if (cp === 0x22 || cp === 0x5c) return 2
  if (cp < 0x20) return cp === 8 || cp === 9 || cp === 10 || cp === 12 || cp === 13 ? 2 : 6
  if (cp < 0x80) return 1
  if (cp < 0x800) return 2
  if (cp >= 0xd800 && cp <= 0xdfff) return 6 // a lone surrogate becomes \udxxx
  return cp < 0x10000 ? 3 : 4
}

/** Cuts text into pieces of at most `room` bytes as JSON string content, never inside a code point. */
export function splitText (text: string, room: number): string[] {
  const pieces: string[] = []
  let start = 0
  let size = 0
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i)!
    const width = cp > 0xffff ? 2 : 1
    const bytes = escapedBytes(cp)
    if (size + bytes > room && i > start) {
      pieces.push(text.slice(start, i))
      start = i
      size = 0
    }
    size += bytes
    i += width
  }
  pieces.push(text.slice(start))
  return pieces
}

export interface RunIds { run_id: string, thread_id: string, user_id: string }

/**
 * The only way a run's events come to be. It gives each event its `seq`, refuses events that
 * break CONTRACT §5 rules 3–4, stores events (batched per tick, fenced by the run's epoch) and
 * only then publishes them. Once the store refuses a write (another process holds the run, or
 * the store failed) it emits nothing more.
 */
export class RunEmitter {
  readonly #ids: RunIds
  readonly #store: Store
  readonly #bus: EventBus
  readonly #log: Logger
  readonly #epoch: number
  #seq: number
  #pending: RunEvent[] = []
  #afterStore: Array<() => Promise<void>> = []
  #flushing: Promise<void> | undefined
  #chain: Promise<void> = Promise.resolve()
  #terminal = false
  /** agent_id → open attempt */
  readonly #agents = new Map<string, { attempt: number, name: string }>()
  /** tool_call_id → agent_id of the open call */
  readonly #tools = new Map<string, { agent_id: string, agent_name: string, tool_name: string }>()
  readonly #attempts = new Map<string, number>()
  /** interrupt_id → the open interrupt; `#asked` holds every interrupt id seen */
  readonly #inputs = new Map<string, { agent_id: string, agent_name: string, kind: 'approval' | 'question' }>()
  readonly #asked = new Set<string>()
  #failure: Error | undefined

  readonly #onFailure: ((err: Error) => void) | undefined

  /** `onFailure` hears once that the store refused a write: the run cannot go on here */
  constructor (ids: RunIds, deps: { store: Store, bus: EventBus, log: Logger, epoch: number, onFailure?: (err: Error) => void }, history: readonly RunEvent[] = []) {
    this.#ids = { run_id: ids.run_id, thread_id: ids.thread_id, user_id: ids.user_id }
    this.#store = deps.store
    this.#bus = deps.bus
    this.#log = deps.log
    this.#epoch = deps.epoch
    this.#onFailure = deps.onFailure
    this.#seq = 0
    for (const e of history) { this.#check(e as EventInput); this.#apply(e as EventInput); this.#seq = e.seq }
  }

  get runId () { return this.#ids.run_id }
  get seq () { return this.#seq }
  get ended () { return this.#terminal }
  get epoch () { return this.#epoch }
  /** another process claimed the run: this one must not write to it again */
  get fenced () { return this.#failure instanceof FencedError }
  /** the store refused a write: nothing more is emitted */
  get failed () { return this.#failure !== undefined }
  /** open agents and tool calls, so a run ending abnormally can close them first */
  get openAgents () { return [...this.#agents].map(([agent_id, a]) => ({ agent_id, ...a })) }
  get openTools () { return [...this.#tools].map(([tool_call_id, t]) => ({ tool_call_id, ...t })) }
  /** interrupts waiting for an answer */
  get openInputs () { return [...this.#inputs].map(([interrupt_id, i]) => ({ interrupt_id, ...i })) }

  /**
   * Queues one event; resolves once it is stored and published. Throws ContractViolation at once
   * for an event that breaks the run's state machine; rejects if the store fails. `afterStore`
   * runs once the event is stored and before anyone sees it (the run's end is recorded there,
   * so a client that sees the terminal event finds the run and its thread already finished).
   */
  emit (input: EventInput, afterStore?: () => Promise<void>): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure)
    this.#check(input)
    const dataCheck = Object.hasOwn(EventDataChecks, input.type) ? EventDataChecks[input.type] as TypeCheck<TSchema> : undefined
    if (!dataCheck) throw new ContractViolation(`${String(input.type)} is not an event type`)
    if (!dataCheck.Check(input.data)) {
      const where = firstError(dataCheck, input.data).replace(/^\/(: )?/, (_m, root?: string) => root ? '/data: ' : '/data/')
      throw new ContractViolation(`${input.type} does not match its schema: ${where}`)
    }
    const events = this.#sized(input)
    this.#apply(input)
    for (const e of events) {
      e.seq = ++this.#seq
      this.#pending.push(e)
    }
    if (afterStore) this.#afterStore.push(afterStore)
    this.#flushing ??= this.#scheduleFlush()
    return this.#flushing
  }

  /** Throws `event_too_large` now for an event that could not be emitted later (a text that may be split always can). */
  assertFits (input: EventInput): void {
    const bytes = eventBytes(this.#ids, input)
    if (SPLIT_FIELD[input.type] === undefined && bytes > MAX_EVENT_BYTES) throw eventTooLarge(input.type, bytes)
  }

  /**
   * The event as it goes out (its seq still to be set): whole when it fits MAX_EVENT_BYTES, a long
   * thought or answer delta in pieces of the same type; anything else too large throws
   * `event_too_large` before the run's state changes.
   */
  #sized (input: EventInput): RunEvent[] {
    const whole = (data: unknown) => ({ type: input.type, seq: 0, ...this.#ids, data }) as RunEvent
    const bytes = eventBytes(this.#ids, input)
    if (bytes <= MAX_EVENT_BYTES) return [whole(input.data)]
    const field = SPLIT_FIELD[input.type]
    if (!field) throw eventTooLarge(input.type, bytes)
    const { [field]: text, ...rest } = input.data as unknown as Record<string, unknown> & { reset?: true }
    const room = MAX_EVENT_BYTES - eventBytes(this.#ids, { ...input, data: { ...rest, [field]: '' } } as EventInput)
    // only the first piece of a delta that starts the answer again withdraws the text before it
    const { reset: _reset, ...later } = rest
    return splitText(text as string, room).map((piece, i) => whole({ ...(i === 0 ? rest : later), [field]: piece }))
  }

  /** Resolves when everything emitted so far is stored and published. */
  async settled (): Promise<void> {
    await this.#flushing
    await this.#chain
  }

  #scheduleFlush (): Promise<void> {
    const run = this.#chain.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(async () => {
      this.#flushing = undefined
      const batch = this.#pending
      const after = this.#afterStore
      this.#pending = []
      this.#afterStore = []
      // a flush queued behind one the store refused writes nothing: its events would follow a gap
      if (this.#failure) throw this.#failure
      // serialised once: the store keeps its data's JSON, the bus and every connection send it
      const data = batch.map((e) => JSON.stringify(e.data))
      const lines = batch.map((e, i) => eventJson(e, data[i]))
      await writerFor(this.#store).write(this.#ids.run_id, this.#epoch, batch, data)
      for (const fn of after) await fn()
      // stored is what counts: a follower that misses a message reads the gap from the store
      await this.#publish(lines.join('\n'), { events: batch, lines }, 0)
    })
    this.#chain = run.catch((err: Error) => {
      if (this.#failure) return
      this.#failure = err
      if (err instanceof FencedError) this.#log.warn({ err }, 'the run was taken over by another process: this one stops writing to it')
      else this.#log.error({ err }, 'storing run events failed')
      this.#onFailure?.(err)
    })
    return run
  }

  /**
   * Publishes one flush. A failed publish (this process lost Redis) is tried again later: a
   * follower elsewhere whose bus stayed up would otherwise miss it until the next event, and for
   * ever if it held the run's last one. A copy that arrives twice is dropped by its seq.
   */
  async #publish (message: string, local: LocalEvents, retry: number): Promise<void> {
    try {
      await this.#bus.publish(runChannel(this.#ids.run_id), message, local)
    } catch (err) {
      if (retry >= PUBLISH_RETRIES_MS.length) {
        this.#log.warn({ err }, 'publishing run events failed; followers read them from the store')
        return
      }
      setTimeout(() => { this.#publish(message, local, retry + 1).catch(() => {}) }, PUBLISH_RETRIES_MS[retry]).unref()
    }
  }

  #check (e: EventInput) {
    const fail = (why: string) => { throw new ContractViolation(`${e.type} refused: ${why}`) }
    if (this.#terminal) fail('the run has ended')
    const d = e.data as { agent_id?: string, attempt?: number, tool_call_id?: string, interrupt_id?: string, error?: { code: string } }
    switch (e.type) {
      case 'input_requested':
        if (!this.#agents.has(d.agent_id!)) fail(`agent ${d.agent_id} is not running`)
        if (this.#asked.has(d.interrupt_id!)) fail(`interrupt ${d.interrupt_id} exists`)
        break
      case 'input_received':
        if (!this.#inputs.has(d.interrupt_id!)) fail(`interrupt ${d.interrupt_id} is not open`)
        // an answer is taken by a running agent; a run that ends closes what is left open as it ends
        if ((e.data as { by?: string }).by !== 'cancel' && !this.#agents.has(d.agent_id!)) fail(`agent ${d.agent_id} is not running`)
        break
      case 'answer_delta':
        if (d.agent_id !== undefined && !this.#agents.has(d.agent_id)) fail(`agent ${d.agent_id} is not running`)
        break
      case 'agent_started': {
        if (this.#agents.has(d.agent_id!)) fail(`agent ${d.agent_id} is already running`)
        const last = this.#attempts.get(d.agent_id!) ?? 0
        if (d.attempt !== last + 1) fail(`attempt ${d.attempt} does not follow ${last}`)
        break
      }
      case 'agent_thinking':
      case 'tool_executing':
        if (!this.#agents.has(d.agent_id!)) fail(`agent ${d.agent_id} is not running`)
        if (e.type === 'tool_executing' && this.#tools.has(d.tool_call_id!)) fail(`tool call ${d.tool_call_id} exists`)
        break
      case 'tool_progress':
      case 'tool_completed':
        if (this.#tools.get(d.tool_call_id!)?.agent_id !== d.agent_id) fail(`tool call ${d.tool_call_id} is not open`)
        break
      case 'agent_completed':
      case 'agent_error':
        if (this.#agents.get(d.agent_id!)?.attempt !== d.attempt) fail(`agent ${d.agent_id} attempt ${d.attempt} is not open`)
        if ([...this.#tools.values()].some((t) => t.agent_id === d.agent_id)) fail(`agent ${d.agent_id} has open tool calls`)
        // an interrupted attempt leaves its interrupt open: the next attempt, on another process, waits on
        if (d.error?.code !== 'interrupted' && [...this.#inputs.values()].some((i) => i.agent_id === d.agent_id)) fail(`agent ${d.agent_id} has open interrupts`)
        break
      default:
        if (TERMINAL_TYPES.has(e.type) && (this.#agents.size || this.#tools.size || this.#inputs.size)) fail('agents, tool calls or interrupts are still open')
    }
  }

  #apply (e: EventInput) {
    const d = e.data as unknown as { agent_id: string, agent_name: string, attempt: number, tool_call_id: string, tool_name: string }
    switch (e.type) {
      case 'agent_started':
        this.#agents.set(d.agent_id, { attempt: d.attempt, name: d.agent_name })
        this.#attempts.set(d.agent_id, d.attempt)
        break
      case 'tool_executing':
        this.#tools.set(d.tool_call_id, { agent_id: d.agent_id, agent_name: d.agent_name, tool_name: d.tool_name })
        break
      case 'tool_completed':
        this.#tools.delete(d.tool_call_id)
        break
      case 'input_requested':
        this.#inputs.set(e.data.interrupt_id, { agent_id: d.agent_id, agent_name: d.agent_name, kind: e.data.kind })
        this.#asked.add(e.data.interrupt_id)
        break
      case 'input_received':
        this.#inputs.delete(e.data.interrupt_id)
        break
      case 'agent_completed':
      case 'agent_error':
        this.#agents.delete(d.agent_id)
        break
      default:
        if (TERMINAL_TYPES.has(e.type)) this.#terminal = true
    }
  }
}
