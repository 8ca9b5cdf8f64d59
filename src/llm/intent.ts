import type { AgentContext } from '../core/registry.js'
import { thoughtStream } from './thinking.js'
import type { LlmClient } from './types.js'

/**
 * Asks the model which of `intents` a question has, streaming its reasoning into `agent_thinking`.
 * Resolves with one of `intents`, or undefined when the model names none of them (the caller then
 * keeps its own rules). Throws what the client throws.
 */
export async function askIntent<I extends string> (
  llm: LlmClient,
  ctx: Pick<AgentContext, 'think' | 'signal'>,
  question: string,
  intents: Readonly<Record<I, string>>
): Promise<I | undefined> {
  const names = Object.keys(intents) as I[]
  const thoughts = thoughtStream((t) => ctx.think(t), { minChars: 1 })
  const reply = await llm.chat({
    messages: [
      {
        role: 'system',
        content: 'You classify one question a user asks about their team\'s LLM usage and spend. The intents are:\n' +
          names.map((n) => `- ${n}: ${intents[n]}`).join('\n') +
          '\nReason in one or two short sentences, then end with a last line of exactly `intent: <name>`, with one of the names above.'
      },
      { role: 'user', content: question }
    ],
    signal: ctx.signal,
    onDelta: thoughts.push
  })
  thoughts.flush()
  return intentIn(reply.content, names)
}

/** The intent a reply names on its `intent:` line (the last one), or as its whole text. */
export function intentIn<I extends string> (text: string, names: readonly I[]): I | undefined {
  const lines = [...text.matchAll(/intent\W{0,4}[:=]\W{0,4}([a-z_]+)/gi)]
  const named = (lines.at(-1)?.[1] ?? text.trim().replace(/^[`*"']+|[`*".']+$/g, '')).toLowerCase()
  return names.find((n) => n === named)
}
