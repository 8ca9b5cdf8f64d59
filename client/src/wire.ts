// Generated from src/core/events.ts by client/scripts/generate-wire.ts; do not edit.
// After changing the schemas: npm run generate -w @agentwire/client (test/client/wire.test.ts checks).

/** An error inside an event: `tool_completed`, `agent_error`, `run_failed`. */
export interface ErrorBody {
  code: string
  message: string
}

/** `data` of an `agent_started` event. */
export interface AgentStartedData {
  agent_id: string
  agent_name: string
  timestamp: number
  message: string
  attempt: number
  parent_agent_id?: string
  step_id?: string
}

/** `data` of an `agent_thinking` event. */
export interface AgentThinkingData {
  agent_id: string
  agent_name: string
  timestamp: number
  thought: string
}

/** `data` of a `tool_executing` event. */
export interface ToolExecutingData {
  agent_id: string
  agent_name: string
  timestamp: number
  tool_name: string
  tool_call_id: string
  parameters: unknown
}

/** `data` of a `tool_progress` event. */
export interface ToolProgressData {
  agent_id: string
  agent_name: string
  timestamp: number
  tool_name: string
  tool_call_id: string
  message: string
  progress?: number
}

/** `data` of a `tool_completed` event. */
export interface ToolCompletedData {
  agent_id: string
  agent_name: string
  timestamp: number
  tool_name: string
  tool_call_id: string
  status: 'success' | 'error' | 'timeout' | 'cancelled'
  result?: unknown
  error?: {
    code: string
    message: string
  }
  duration_ms: number
}

/** `data` of an `agent_completed` event. */
export interface AgentCompletedData {
  agent_id: string
  agent_name: string
  timestamp: number
  result?: unknown
  attempt: number
  duration_ms: number
}

/** `data` of an `agent_error` event. */
export interface AgentErrorData {
  agent_id: string
  agent_name: string
  timestamp: number
  error: {
    code: string
    message: string
  }
  retryable: boolean
  attempt: number
}

/** `data` of an `input_requested` event. */
export interface InputRequestedData {
  agent_id: string
  agent_name: string
  timestamp: number
  interrupt_id: string
  kind: 'approval' | 'question'
  tool_name?: string
  tool_call_id?: string
  arguments?: unknown
  question?: string
  schema: unknown
  expires_at: string
}

/** `data` of an `input_received` event. */
export interface InputReceivedData {
  agent_id: string
  agent_name: string
  timestamp: number
  interrupt_id: string
  kind: 'approval' | 'question'
  by: 'user' | 'expiry' | 'cancel'
  decision?: 'approve' | 'reject'
  reason?: string
  arguments?: unknown
  answer?: unknown
}

/** `data` of an `answer_delta` event. */
export interface AnswerDeltaData {
  timestamp: number
  delta: string
  reset?: true
  agent_id?: string
  agent_name?: string
}

/** `data` of a `run_queued` event. */
export interface RunQueuedData {
  timestamp: number
  position: number
}

/** `data` of a `run_completed` event. */
export interface RunCompletedData {
  timestamp: number
  result: unknown
}

/** `data` of a `run_failed` event. */
export interface RunFailedData {
  timestamp: number
  error: {
    code: string
    message: string
  }
}

/** `data` of a `run_cancelled` event. */
export interface RunCancelledData {
  timestamp: number
  reason: string
}

/** Event type → its `data`. */
export interface EventDataMap {
  agent_started: AgentStartedData
  agent_thinking: AgentThinkingData
  tool_executing: ToolExecutingData
  tool_progress: ToolProgressData
  tool_completed: ToolCompletedData
  agent_completed: AgentCompletedData
  agent_error: AgentErrorData
  input_requested: InputRequestedData
  input_received: InputReceivedData
  answer_delta: AnswerDeltaData
  run_queued: RunQueuedData
  run_completed: RunCompletedData
  run_failed: RunFailedData
  run_cancelled: RunCancelledData
}

export type EventType = keyof EventDataMap

/** What every run event carries besides its `type` and `data`. */
export interface EventEnvelope {
  seq: number
  run_id: string
  thread_id: string
  user_id: string
}

/** One run event of type `T`. */
export interface RunEventOf<T extends EventType> extends EventEnvelope {
  type: T
  data: EventDataMap[T]
}

/** Any run event; narrow it on `type`. */
export type RunEvent = { [T in EventType]: RunEventOf<T> }[EventType]

/** The events that end a run; exactly one of them is its last event. */
export const TERMINAL_TYPES = ['run_completed', 'run_failed', 'run_cancelled'] as const

export type TerminalType = typeof TERMINAL_TYPES[number]

export type Multitask = 'reject' | 'enqueue' | 'interrupt'

export const MAX_CONTENT_CHARS = 32768

/** A frame a client sends on the WebSocket. */
export type ClientFrame =
  | {
    type: 'subscribe'
    id?: string | number
    run_id: string
    after_seq?: number
  }
  | {
    type: 'subscribe'
    id?: string | number
    thread_id: string
  }
  | {
    type: 'unsubscribe'
    id?: string | number
    run_id: string
  }
  | {
    type: 'unsubscribe'
    id?: string | number
    thread_id: string
  }
  | {
    type: 'message'
    id?: string | number
    content: string
    thread_id?: string
    agent?: string
    input?: Record<string, unknown>
    multitask?: 'reject' | 'enqueue' | 'interrupt'
  }
  | {
    type: 'cancel'
    id?: string | number
    run_id: string
  }
  | {
    type: 'resume'
    id?: string | number
    run_id: string
    interrupt_id: string
    decision?: 'approve' | 'reject'
    reason?: string
    arguments?: Record<string, unknown>
    answer?: unknown
  }
  | {
    type: 'ping'
    id?: string | number
  }
