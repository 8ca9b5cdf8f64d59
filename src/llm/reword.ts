import type { AgentContext } from '../core/registry.js'
import type { LlmClient } from './types.js'

/** Every number in a text, as a canonical decimal: `$1,234.50` → `1234.5`, `05` → `5`. */
export function numbersIn (text: string): string[] {
  return [...text.matchAll(/\d[\d,]*(?:\.\d+)?/g)].map((m) => String(Number(m[0].replace(/,/g, ''))))
}

/**
 * What makes a rewording of `original` unfaithful: a number that is not in the original (a changed,
 * rounded or invented figure), or a dollar amount of the original that the rewording dropped.
 */
export function unfaithfulNumbers (original: string, reworded: string): string[] {
  const known = new Set(numbersIn(original))
  const kept = new Set(numbersIn(reworded))
  const invented = [...kept].filter((n) => !known.has(n))
  const dollars = [...original.matchAll(/\$\s?(\d[\d,]*(?:\.\d+)?)/g)].map((m) => String(Number(m[1].replace(/,/g, ''))))
  const dropped = [...new Set(dollars)].filter((n) => !kept.has(n))
  return [...invented, ...dropped.map((n) => `$${n} dropped`)]
}

/**
 * Asks the model to reword a Markdown report without touching its figures, streaming the new
 * wording token by token into the answer (`ctx.stream`), not into `agent_thinking`, so the answer
 * is not sent twice. Resolves with the new wording when every figure survived it,
 * otherwise with `report` itself and a thought saying why. Throws what the client throws.
 */
export async function rewordReport (llm: LlmClient, ctx: Pick<AgentContext, 'think' | 'signal'> & Partial<Pick<AgentContext, 'stream'>>, report: string): Promise<string> {
  const reply = await llm.chat({
    messages: [
      {
        role: 'system',
        content: 'You reword a Markdown report about a team\'s LLM spend so that it reads clearly and naturally. ' +
          'Keep its headings, lists and tables. Never change, round, convert, add or drop any number, amount, percentage or date: ' +
          'copy every figure exactly as written. Answer with the reworded report only.'
      },
      { role: 'user', content: report }
    ],
    signal: ctx.signal,
    // the wording is also the answer being written; if its figures fail the check, the run's end replaces it
    onDelta: (delta) => ctx.stream?.(delta)
  })
  const reworded = reply.content.trim()
  if (!reworded) {
    ctx.think('The model gave no wording; keeping the computed report.')
    return report
  }
  const wrong = unfaithfulNumbers(report, reworded)
  if (wrong.length) {
    ctx.think(`The model's wording changed figures (${wrong.slice(0, 5).join(', ')}); keeping the computed report, whose every figure comes from a tool.`)
    return report
  }
  return reworded
}
