import type { AgentModule } from '../core/registry.js'
import { createAnalysisTools } from '../tools/analysis-tools.js'
import { createTopCostDriversTool } from '../tools/top-cost-drivers.js'
import { sampleSource, type UsageSource } from '../tools/usage-data.js'
import { createUsageSummaryTool } from '../tools/usage-summary.js'
import { actions } from './actions.js'
import { anomaly } from './anomaly.js'
import { capacity } from './capacity.js'
import { data } from './data.js'
import { optimization } from './optimization.js'
import { reporting } from './reporting.js'
import { supervisor } from './supervisor.js'
import { triage } from './triage.js'

/** The built-in pack over one source of usage records: each tool reads the records of the user it runs for. */
export function createBuiltinModule (source: UsageSource): AgentModule {
  return {
    agents: [supervisor, triage, data, optimization, anomaly, capacity, actions, reporting],
    tools: [createUsageSummaryTool(source), createTopCostDriversTool(source), ...createAnalysisTools(source)]
  }
}

/** The pack over the bundled sample, for tests and tools that run without a store. */
export const builtinModule: AgentModule = createBuiltinModule(sampleSource)
