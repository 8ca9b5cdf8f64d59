import type { AgentModule } from '../core/registry.js'
import type { LlmClient } from '../llm/types.js'
import { createAnalysisTools } from '../tools/analysis-tools.js'
import { createTopCostDriversTool } from '../tools/top-cost-drivers.js'
import type { UsageSource } from '../tools/usage-data.js'
import { createUsageSummaryTool } from '../tools/usage-summary.js'
import { actions } from './actions.js'
import { anomaly } from './anomaly.js'
import { createAssistant, type ToolInfo } from './assistant.js'
import { capacity } from './capacity.js'
import { data } from './data.js'
import { optimization } from './optimization.js'
import { createReporting } from './reporting.js'
import { supervisor } from './supervisor.js'
import { createTriage } from './triage.js'

export interface BuiltinOptions {
  /** a model: triage and the report wording use it, and the `assistant` agent exists */
  llm?: LlmClient
  /** every tool the assistant may call, read at each run (the registry's, once it is complete) */
  tools?: () => readonly ToolInfo[]
}

/** The built-in pack over one source of usage records: each tool reads the records of the user it runs for. */
export function createBuiltinModule (source: UsageSource, { llm, tools }: BuiltinOptions = {}): AgentModule {
  const packTools = [createUsageSummaryTool(source), createTopCostDriversTool(source), ...createAnalysisTools(source)]
  return {
    agents: [
      supervisor, createTriage(llm), data, optimization, anomaly, capacity, actions, createReporting(llm),
      ...(llm ? [createAssistant(llm, tools ?? (() => packTools))] : [])
    ],
    tools: packTools
  }
}
