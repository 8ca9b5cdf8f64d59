import { randomUUID } from 'node:crypto'
import { UserExecutionContext } from '../../src/core/context.js'
import { runAgent } from '../../src/core/engine/agent-runner.js'
import { RunEmitter } from '../../src/core/engine/run-emitter.js'
import type { RunEvent } from '../../src/core/events.js'
import { AgentRegistry, type AgentDefinition } from '../../src/core/registry.js'
import { createBuiltinModule, type BuiltinOptions } from '../../src/agents/index.js'
import type { EventBus } from '../../src/bus/types.js'
import type { EventBatch, Store } from '../../src/store/types.js'
import type { UsageRecord, UsageSource } from '../../src/tools/usage-data.js'

/** "Today" for the pack in tests: the Monday after the samples' last day (Sunday 31 Aug 2025). */
export const TEST_NOW = Date.parse('2025-09-01T09:00:00Z')

/**
 * Runs one agent of the pack through the engine's own runner and run emitter (which refuses any
 * event that breaks CONTRACT §5), over `records`, without a server; the events are kept in order.
 */
export async function runPackAgent<R = any> (name: string, content: string, records: readonly UsageRecord[] | UsageSource,
  input: Record<string, unknown> = {}, replace: AgentDefinition[] = [], options: BuiltinOptions = {}) {
  const source: UsageSource = typeof records === 'function' ? records : () => records
  const pack = createBuiltinModule(source, { now: () => TEST_NOW, ...options })
  // `replace` swaps pack agents for stand-ins of the same name
  const agents = pack.agents!.map((a) => replace.find((r) => r.name === a.name) ?? a)
  const registry = new AgentRegistry().register({ ...pack, agents })
  const events: RunEvent[] = []
  const store = { appendBatches: async (batches: readonly EventBatch[]) => { for (const b of batches) events.push(...b.events); return new Set<EventBatch>() } } as unknown as Store
  const bus = { publish: async () => {} } as unknown as EventBus
  const ids = { run_id: randomUUID(), thread_id: randomUUID(), user_id: 'user-1' }
  const scope = UserExecutionContext.create({ user_id: ids.user_id }).forRun(ids)
  const emitter = new RunEmitter(ids, { store, bus, log: scope.log, epoch: 1 })
  const limits = { agentTimeoutMs: 30_000, toolTimeoutMs: 30_000, retryBaseMs: 1 }
  const result = await runAgent({ scope, emitter, registry, limits, content }, name, input) as R
  await emitter.emit({ type: 'run_completed', data: { result, timestamp: Date.now() / 1000 } })
  const data = (e: RunEvent) => e.data as Record<string, any>
  return {
    result,
    events,
    /** the tools called, in order, with their agent */
    tools: events.filter((e) => e.type === 'tool_executing').map((e) => ({ agent: data(e).agent_name as string, tool: data(e).tool_name as string, args: data(e).parameters })),
    /** agent names in the order they started, with their parent's name */
    agents: events.filter((e) => e.type === 'agent_started').map((e) => {
      const parent = events.find((p) => p.type === 'agent_started' && data(p).agent_id === data(e).parent_agent_id)
      return { name: data(e).agent_name as string, parent: parent && (data(parent).agent_name as string) }
    }),
    thoughts: (agent: string) => events.filter((e) => e.type === 'agent_thinking' && data(e).agent_name === agent).map((e) => data(e).thought as string)
  }
}
