import { randomUUID } from 'node:crypto'
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai'
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions'
import { RunFailure } from '../core/engine/failures.js'
import type { ChatReply, ChatRequest, LlmClient, LlmMessage, LlmToolCall } from './types.js'

export interface OpenAiClientOptions {
  baseUrl: string
  apiKey: string
  model: string
  /** one request, first byte to last */
  timeoutMs: number
}

/** HTTP answers that a later attempt may get past: rate limits, overload, server errors. */
const RETRYABLE_STATUS = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500

/**
 * An LlmClient over any OpenAI-compatible chat completions endpoint, always streaming. The SDK's
 * own retries are off: the agent's attempts (max_attempts, backoff) are the one retry mechanism.
 */
export function createOpenAiClient (opts: OpenAiClientOptions): LlmClient {
  const sdk = new OpenAI({
    baseURL: opts.baseUrl,
    apiKey: opts.apiKey,
    maxRetries: 0,
    timeout: opts.timeoutMs,
    // failures reach the agent as RunFailures; the SDK must not write to the console
    logLevel: 'off'
  })

  return {
    model: opts.model,
    async chat ({ messages, tools, signal, onDelta }: ChatRequest): Promise<ChatReply> {
      if (signal?.aborted) throw signal.reason
      // the SDK's timeout ends at the response headers; this one covers the whole stream
      const controller = new AbortController()
      const expired = new RunFailure('timeout', `the model did not answer within ${opts.timeoutMs} ms`)
      const timer = setTimeout(() => controller.abort(expired), opts.timeoutMs)
      timer.unref()
      const onAbort = () => controller.abort(signal!.reason)
      signal?.addEventListener('abort', onAbort, { once: true })

      let content = ''
      let finish: string | null = null
      const calls: Array<{ id?: string, name: string, arguments: string }> = []
      try {
        const stream = await sdk.chat.completions.create({
          model: opts.model,
          messages: messages.map(toOpenAi),
          ...(tools?.length && {
            tools: tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } }))
          }),
          stream: true
        }, { signal: controller.signal })
        for await (const chunk of stream) {
          const choice = chunk.choices?.[0]
          if (!choice) continue
          const delta = choice.delta ?? {}
          if (typeof delta.content === 'string' && delta.content) {
            content += delta.content
            onDelta?.(delta.content)
          }
          for (const d of delta.tool_calls ?? []) {
            const call = (calls[d.index ?? 0] ??= { name: '', arguments: '' })
            if (d.id) call.id = d.id
            // a name comes whole in its first delta; some servers repeat it, none split it
            if (d.function?.name) call.name = d.function.name
            if (d.function?.arguments) call.arguments += d.function.arguments
          }
          if (choice.finish_reason) finish = choice.finish_reason
        }
        // the SDK ends an aborted stream quietly, as if it were complete
        if (controller.signal.aborted) throw controller.signal.reason
      } catch (err) {
        throw toFailure(err, controller.signal)
      } finally {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }

      const tool_calls: LlmToolCall[] = []
      calls.forEach((c, i) => {
        if (!c) return
        if (!c.name) throw new RunFailure('invalid_tool_call', `the model's tool call ${i} has no function name`)
        tool_calls.push({ id: c.id ?? `call_${randomUUID()}`, name: c.name, arguments: c.arguments })
      })
      return { content, tool_calls, finish_reason: finish }
    }
  }
}

function toOpenAi (m: LlmMessage): ChatCompletionMessageParam {
  if (m.role === 'assistant') {
    return {
      role: 'assistant',
      content: m.content,
      ...(m.tool_calls?.length && {
        tool_calls: m.tool_calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }))
      })
    }
  }
  return m
}

/** Any failure of a request as the RunFailure an agent attempt ends with. */
function toFailure (err: unknown, signal: AbortSignal): unknown {
  // our deadline or the caller's signal: its reason says which (timeout, cancel, agent deadline)
  if (signal.aborted) return signal.reason
  if (err instanceof RunFailure) return err
  if (err instanceof APIConnectionTimeoutError) return new RunFailure('timeout', 'the model endpoint did not answer in time')
  if (err instanceof APIConnectionError) return new RunFailure('llm_error', `cannot reach the model endpoint: ${err.message}`)
  if (err instanceof APIError) {
    if (err.status === undefined) return new RunFailure('llm_error', `the model stream reported an error: ${clip(err.message)}`)
    return new RunFailure('llm_error', `the model endpoint failed: ${clip(err.message)}`, RETRYABLE_STATUS(err.status))
  }
  if (err instanceof SyntaxError) return new RunFailure('llm_error', 'the model endpoint sent a malformed stream')
  return new RunFailure('llm_error', `the model request failed: ${clip((err as Error)?.message ?? String(err))}`)
}

const clip = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}…` : s)
