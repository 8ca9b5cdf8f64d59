import fp from 'fastify-plugin'
import { createBuiltinModule } from '../src/agents/index.js'
import type { Config } from '../src/config.js'
import { AgentRegistry } from '../src/core/registry.js'
import { createOpenAiClient } from '../src/llm/openai-client.js'
import { createLocalAnalyst } from '../src/tools/analyst.js'
import { createWorkerAnalyst, poolable } from '../src/usage/analyst-pool.js'

declare module 'fastify' {
  interface FastifyInstance { registry: AgentRegistry }
}

export default fp(async (app, opts: { config: Config }) => {
  const llm = opts.config.llm && createOpenAiClient(opts.config.llm)
  const registry = new AgentRegistry()
  // the pack's tools read the usage records of the user each run belongs to; the assistant may
  // call every tool, AGENT_MODULES' included, so it reads the list from the finished registry
  const { databaseUrl, analysisWorkers, prices } = opts.config
  const source = (ctx: { user_id: string }) => app.store.listUsage(ctx.user_id)
  // the analyses read and crunch every record of a user: off the event loop where workers can reach the database
  const analyst = analysisWorkers > 0 && poolable(databaseUrl)
    ? createWorkerAnalyst({ databaseUrl, workers: analysisWorkers, env: { prices } })
    : createLocalAnalyst(source, { prices })
  app.addHook('onClose', () => analyst.close())
  const builtin = createBuiltinModule(source, { llm, tools: () => registry.tools(), prices, analyst })
  await registry.register(builtin).load(opts.config.agentModules)
  app.decorate('registry', registry)
}, { name: 'registry', dependencies: ['store'] })
