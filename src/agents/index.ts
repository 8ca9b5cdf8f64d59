import type { AgentModule } from '../core/registry.js'
import type { LlmClient } from '../llm/types.js'
import { createAnalysisTools } from '../tools/analysis-tools.js'
import { createLocalAnalyst, type Analyst } from '../tools/analyst.js'
import { PRICES, type PriceTable } from '../tools/prices.js'
import type { UsageSource } from '../tools/usage-data.js'
import { actions } from './actions.js'
import { anomaly } from './anomaly.js'
import { createAssistant, type ToolInfo } from './assistant.js'
import { capacity } from './capacity.js'
import { data } from './data.js'
import { optimization } from './optimization.js'
import { createReporting } from './reporting.js'
import { createSupervisor } from './supervisor.js'
import { createTriage } from './triage.js'

export interface BuiltinOptions {
  /** a model: triage and the report wording use it, and the `assistant` agent exists */
  llm?: LlmClient
  /** every tool the assistant may call, read at each run (the registry's, once it is complete) */
  tools?: () => readonly ToolInfo[]
  /** where the analyses run; in this thread over `source` by default */
  analyst?: Analyst
  /** the price catalogue (the built-in one by default) */
  prices?: PriceTable
  /** the clock "today" is read from */
  now?: () => number
}

/** The built-in pack over one source of usage records: each tool reads the records of the user it runs for. */
export function createBuiltinModule (source: UsageSource, { llm, tools, analyst, prices, now }: BuiltinOptions = {}): AgentModule {
  const packTools = createAnalysisTools(analyst ?? createLocalAnalyst(source, { prices: prices ?? PRICES }))
  return {
    agents: [
      createSupervisor(llm), createTriage(llm, { now }), data, optimization, anomaly, capacity, actions, createReporting(llm),
      ...(llm ? [createAssistant(llm, tools ?? (() => packTools))] : [])
    ],
    tools: packTools
  }
}
