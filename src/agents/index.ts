import type { AgentModule } from '../core/registry.js'
import { topCostDrivers } from '../tools/top-cost-drivers.js'
import { usageSummary } from '../tools/usage-summary.js'
import { supervisor } from './supervisor.js'

/** The built-in pack: registered before any AGENT_MODULES. */
export const builtinModule: AgentModule = {
  agents: [supervisor],
  tools: [usageSummary, topCostDrivers]
}
