import { RunFailure } from '../core/engine/failures.js'
import { defineAgent, type JsonSchema } from '../core/registry.js'
import type { LlmClient, LlmMessage, LlmToolCall } from '../llm/types.js'

/** A tool as the model is shown it: a registered tool's name, description and input schema. */
export interface ToolInfo { name: string, description: string, input_schema?: JsonSchema }

/** Model requests one attempt may make before it must have answered. */
export const MAX_ROUNDS = 8
/** A tool result longer than this is cut before it goes back to the model. */
const MAX_RESULT_CHARS = 16_000

const SYSTEM = 'You are the assistant of agentwire, a service that analyses a team\'s own LLM usage and spend. ' +
  'Answer the user\'s question. Call the tools you are given to get facts: their results are the user\'s own data. ' +
  'Take every figure in your answer from a tool result; never make one up. Answer in Markdown.'

/**
 * A model that may call any registered tool through function calling; each call is a real
 * `call_tool` (tool_executing/tool_completed), its result or error goes back to the model.
 * Malformed arguments are sent back once as an error; a second time fails the attempt
 * (`invalid_tool_call`), and the agent's attempts retry it.
 */
export const createAssistant = (llm: LlmClient, tools: () => readonly ToolInfo[]) => defineAgent<Record<string, unknown>, { answer: string }>({
  name: 'assistant',
  description: 'Answers any question with a language model that may call every registered tool; each call is a tool call of the run.',
  input_schema: { type: 'object' },
  output_schema: { type: 'object', properties: { answer: { type: 'string', minLength: 1 } }, required: ['answer'] },
  max_attempts: 3,
  async run (ctx) {
    const functions = tools().map((t) => ({ name: t.name, description: t.description, parameters: t.input_schema ?? { type: 'object' } }))
    const messages: LlmMessage[] = [{ role: 'system', content: SYSTEM }, { role: 'user', content: ctx.content }]
    let malformed = 0
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      // the model's text streams as the answer being written, not as thoughts, so the answer is sent once
      const reply = await llm.chat({ messages, tools: functions, signal: ctx.signal, onDelta: (delta) => ctx.stream(delta) })
      if (!reply.tool_calls.length) {
        const answer = reply.content.trim()
        if (!answer) throw new RunFailure('llm_error', 'the model returned neither an answer nor a tool call')
        return { answer }
      }
      // text before tool calls was not the answer: a thought (the run's end withdraws it from the deltas)
      if (reply.content.trim()) ctx.think(reply.content.trim())
      messages.push({ role: 'assistant', content: reply.content || null, tool_calls: reply.tool_calls })
      for (const call of reply.tool_calls) {
        const args = parseArguments(call)
        if (!args) {
          if (++malformed >= 2) {
            throw new RunFailure('invalid_tool_call', `the model sent malformed arguments for ${call.name} again: ${clip(call.arguments)}`)
          }
          ctx.think(`The model's call to ${call.name} had malformed arguments; asking it to correct them.`)
          messages.push(toolMessage(call, { error: { code: 'invalid_tool_call', message: 'The arguments are not a JSON object. Call the tool again with valid JSON arguments.' } }))
          continue
        }
        try {
          messages.push(toolMessage(call, await ctx.call_tool(call.name, args)))
        } catch (err) {
          // the tool's error is already in its tool_completed; the model may try another way
          if (ctx.signal.aborted) throw err
          const e = err as { code?: unknown, message?: unknown }
          messages.push(toolMessage(call, { error: { code: typeof e.code === 'string' ? e.code : 'tool_error', message: String(e.message ?? 'the tool failed') } }))
        }
      }
    }
    throw new RunFailure('too_many_tool_calls', `the model was still calling tools after ${MAX_ROUNDS} requests`, false)
  }
})

/** The call's arguments as an object, or undefined when they are not a JSON object. No arguments at all is `{}`. */
function parseArguments (call: LlmToolCall): Record<string, unknown> | undefined {
  if (call.arguments.trim() === '') return {}
  try {
    const v: unknown = JSON.parse(call.arguments)
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

function toolMessage (call: LlmToolCall, value: unknown): LlmMessage {
  const text = JSON.stringify(value ?? null)
  return { role: 'tool', tool_call_id: call.id, content: text.length > MAX_RESULT_CHARS ? `${text.slice(0, MAX_RESULT_CHARS)}… (cut at ${MAX_RESULT_CHARS} characters)` : text }
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s)
