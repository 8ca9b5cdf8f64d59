import type { RunEvent } from '../core/events.js'
import type { UsageRecord } from '../tools/usage-data.js'
import type { Housekeeping } from './housekeeping.js'

export type RunStatus = 'queued' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled'
/** `waiting`: the run waits for a person's answer; it holds its lease but no run slot */
export const ACTIVE_STATUSES: readonly RunStatus[] = ['queued', 'running', 'waiting']

export interface Thread {
  thread_id: string
  user_id: string
  title: string
  created_at: string
  updated_at: string
  active_run_id: string | null
}

export interface Message {
  message_id: string
  thread_id: string
  role: 'user' | 'assistant'
  content: string
  run_id: string | null
  created_at: string
}

export interface Run {
  run_id: string
  thread_id: string
  user_id: string
  agent: string
  status: RunStatus
  input: Record<string, unknown> | null
  created_at: string
  started_at: string | null
  finished_at: string | null
  result: unknown
  error: { code: string, message: string } | null
  last_seq: number
}

export interface NewRun {
  user_id: string
  /** absent: a new thread is made, titled from the content */
  thread_id?: string
  content: string
  agent: string
  input?: Record<string, unknown>
  /** `reject`: `thread_busy` when the thread has an unfinished run; otherwise the run waits its turn */
  multitask: 'reject' | 'enqueue' | 'interrupt'
  /** cluster-wide caps: `rate_limited` when the user cannot start now and has `queuedPerUser` waiting */
  limits: { perUser: number, queuedPerUser: number }
}

export interface CreatedRun {
  thread: Thread
  message: Message
  run: Run
  /** 1-based place among the user's queued runs */
  position: number
}

/** A run a process has just claimed, with what it needs to run it on any process. */
export interface ClaimedRun {
  run: Run
  /** the user message that started the run */
  content: string
  epoch: number
  cancel_requested: boolean
}

export interface ClaimOptions {
  owner: string
  /** epoch ms, the clock leases are counted in */
  now: number
  leaseMs: number
  perUser: number
  /** at most this many */
  limit: number
  /** claim this queued run only, whatever its turn or its user's cap (to cancel it) */
  runId?: string
}

/** One run's events to append, by the holder of `epoch`. */
/** One run's events to append; `data`, when given, holds each event's data already serialised. */
export interface EventBatch { run_id: string, epoch: number, events: readonly RunEvent[], data?: readonly string[] }

/** A stored answer to an interrupt: the first one stored wins. */
export interface StoredInput {
  interrupt_id: string
  by: 'user' | 'expiry'
  /** `{decision, reason?, arguments?}` for an approval, `{answer}` for a question */
  body: Record<string, unknown>
}

/** A lease this process still holds: its epoch and whether a cancel was asked for. */
export interface HeldLease { run_id: string, epoch: number, cancel_requested: boolean }

/** An append or a finish refused because the run was claimed by another process meanwhile. */
export class FencedError extends Error {
  override name = 'FencedError'
}

export interface RunFinish {
  status: 'completed' | 'failed' | 'cancelled'
  result?: unknown
  error?: { code: string, message: string }
  /** the assistant message holding the final answer; absent when the run had none */
  answer?: string
}

export interface UserStats {
  runs: Record<RunStatus, number>
  tool_calls: number
  tool_errors: number
  mean_run_ms: number | null
}

export interface Page<T> { items: T[], next_cursor: string | null }

/** A time range of usage records, `from` ≤ timestamp < `to`, ISO-8601 UTC as `toISOString` writes it; either end may be open. */
export interface UsageRange { from?: string, to?: string }

export interface UsageImport {
  inserted: number
  /** records whose request_id this user has already (or that repeat one earlier in the same import) */
  duplicates: number
}

/** Sums over a group of usage records; `cost_usd` is unrounded. */
export interface UsageGroup {
  provider: string
  /** absent in the per-provider groups */
  model?: string
  records: number
  /** each record counts its `requests`, 1 when absent */
  requests: number
  input_tokens: number
  output_tokens: number
  cached_tokens: number
  cost_usd: number
}

export interface UsageTotals extends Omit<UsageGroup, 'provider' | 'model'> {
  /** first and last timestamp; null when there are no records */
  from: string | null
  to: string | null
  /** largest cost first, ties by name */
  by_provider: UsageGroup[]
  by_model: Array<UsageGroup & { model: string }>
}

/**
 * Everything agentwire keeps. Every read of user data takes the user id and filters by it:
 * another user's row looks exactly like a missing one. Methods without a user id are the
 * engine's own bookkeeping on ids it already owns.
 */
export interface Store extends Housekeeping {
  readonly dialect: 'sqlite' | 'postgres'
  /** thread (when new), user message and run, in one transaction; `not_found` when thread_id is not this user's */
  createRun (r: NewRun): Promise<CreatedRun>
  getThread (userId: string, threadId: string): Promise<Thread | undefined>
  listThreads (userId: string, opts: { limit: number, cursor?: string }): Promise<Page<Thread>>
  /** sets the title; `updated_at` (the last activity) stays; undefined when the thread is not this user's */
  renameThread (userId: string, threadId: string, title: string): Promise<Thread | undefined>
  /**
   * deletes the thread with its messages, runs, their events and answers; `not_found` when it is not
   * this user's, `thread_busy` while it has an unfinished run (queued, running or waiting)
   */
  deleteThread (userId: string, threadId: string): Promise<void>
  listMessages (userId: string, threadId: string): Promise<Message[] | undefined>
  getRun (userId: string, runId: string): Promise<Run | undefined>
  /**
   * events of a run with seq > afterSeq, in seq order, at most `limit` of them when given (a page);
   * undefined when the run is not this user's
   */
  listEvents (userId: string, runId: string, afterSeq: number, limit?: number): Promise<RunEvent[] | undefined>
  stats (userId: string): Promise<UserStats>

  /**
   * Appends one run's events in one transaction, fenced: the run's epoch must still be `epoch` and
   * the events must follow its last stored seq exactly, else FencedError and nothing is written.
   */
  appendEvents (runId: string, epoch: number, events: readonly RunEvent[]): Promise<void>
  /**
   * Group commit: several runs' events in one transaction, each run fenced as `appendEvents` is.
   * Resolves with the batches whose fence refused them (their events are not written; the others are).
   */
  appendBatches (batches: readonly EventBatch[]): Promise<Set<EventBatch>>
  /**
   * Sets the final status, result/error and finished_at; writes the assistant message; the thread's
   * next unfinished run becomes its active one; the lease is dropped. FencedError on a stale epoch.
   */
  finishRun (runId: string, epoch: number, f: RunFinish): Promise<void>
  /**
   * Claims runs for `owner`: first runs whose lease lapsed (any user), then queued runs whose
   * thread turn has come, round-robin between users, within each user's running cap. Each claim
   * bumps the epoch, sets the lease and marks the run running (a run asked to cancel stays queued).
   */
  claimRuns (opts: ClaimOptions): Promise<ClaimedRun[]>
  /** extends the leases `owner` holds on these runs; what it lost is absent from the answer */
  renewLeases (owner: string, runIds: readonly string[], now: number, leaseMs: number): Promise<HeldLease[]>
  /** lets another process take the run at once (a handover); false when the epoch is stale */
  releaseRun (runId: string, epoch: number): Promise<boolean>
  /** marks the user's unfinished run for cancel; resolves with the run (as it was), undefined when not this user's */
  requestCancel (userId: string, runId: string): Promise<Run | undefined>
  /** the unfinished runs of a thread, oldest first (the engine's own, by ids it owns) */
  listActiveRuns (threadId: string): Promise<Run[]>
  /** `waiting` while the run waits for an answer, `running` again after; false on a stale epoch */
  setWaiting (runId: string, epoch: number, waiting: boolean): Promise<boolean>
  /** stores the answer to an interrupt unless one is stored already; true when this one was stored */
  storeInput (runId: string, input: StoredInput): Promise<boolean>
  /** the stored answer to an interrupt of the run, if any (the engine's own, by ids it owns) */
  getInput (runId: string, interruptId: string): Promise<StoredInput | undefined>
  /** runs waiting to be claimed, cluster-wide */
  countQueued (): Promise<number>

  /** single-use WebSocket tickets */
  createTicket (t: { ticket: string, user_id: string, expires_at: number, token_exp: number }): Promise<void>
  /** deletes and returns the ticket if it exists and is not expired (epoch seconds) */
  consumeTicket (ticket: string, nowS: number): Promise<{ user_id: string, token_exp: number } | undefined>

  /**
   * Adds usage records in one transaction: all or nothing. A request_id the user has already is
   * skipped and counted as a duplicate. `replace` first deletes the user's records, in the same transaction.
   */
  importUsage (userId: string, records: readonly UsageRecord[], opts?: { replace?: boolean }): Promise<UsageImport>
  /** this user's usage records in the range, oldest first (ties by request_id) */
  listUsage (userId: string, range?: UsageRange): Promise<UsageRecord[]>
  usageTotals (userId: string, range?: UsageRange): Promise<UsageTotals>
  /** deletes all of this user's usage records; resolves with how many there were */
  deleteUsage (userId: string): Promise<number>

  ping (): Promise<void>
  /** a real write (a row inserted and deleted in one write transaction): fails when the store refuses writes */
  probeWrite (): Promise<void>
  close (): Promise<void>
}
