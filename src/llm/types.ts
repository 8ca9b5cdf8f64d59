import type { JsonSchema } from '../core/registry.js'

/** A model's request for one tool call; `arguments` is the raw JSON text the model wrote. */
export interface LlmToolCall {
  id: string
  name: string
  arguments: string
}

export type LlmMessage =
  | { role: 'system' | 'user', content: string }
  | { role: 'assistant', content: string | null, tool_calls?: LlmToolCall[] }
  | { role: 'tool', tool_call_id: string, content: string }

/** A function the model may call: a registered tool as the model sees it. */
export interface LlmTool {
  name: string
  description: string
  parameters: JsonSchema
}

export interface ChatRequest {
  messages: readonly LlmMessage[]
  tools?: readonly LlmTool[]
  /** the agent's signal: cancel and the agent's own deadline end the request */
  signal?: AbortSignal
  /** each piece of the model's text as it streams in */
  onDelta?: (text: string) => void
}

export interface ChatReply {
  content: string
  tool_calls: LlmToolCall[]
  finish_reason: string | null
}

/**
 * A model provider. `chat` streams one completion and resolves with it whole, or throws a
 * RunFailure: `llm_error` (endpoint or stream failed), `timeout`, `invalid_tool_call`, or the
 * signal's reason when the caller aborted.
 */
export interface LlmClient {
  readonly model: string
  chat (request: ChatRequest): Promise<ChatReply>
}
