import type { ToolContext } from '../core/registry.js'

/**
 * One LLM request as a team's usage log records it, or, with `requests`, an aggregate of that many
 * requests (an hourly export line): tokens and cost are then totals, latency the mean per request.
 */
export interface UsageRecord {
  /** ISO-8601 UTC */
  readonly timestamp: string
  readonly provider: string
  readonly model: string
  /** all prompt tokens, `cached_tokens` included */
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cached_tokens?: number
  readonly cost_usd: number
  readonly latency_ms?: number
  readonly feature?: string
  readonly request_id: string
  readonly prompt_hash?: string
  /** how many requests this record stands for; absent means 1 */
  readonly requests?: number
}

/** Where a tool reads the records of the user it runs for. */
export type UsageSource = (ctx: ToolContext) => readonly UsageRecord[] | Promise<readonly UsageRecord[]>
