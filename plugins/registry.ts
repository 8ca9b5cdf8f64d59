import fp from 'fastify-plugin'
import { createBuiltinModule } from '../src/agents/index.js'
import type { Config } from '../src/config.js'
import { AgentRegistry } from '../src/core/registry.js'
import { createOpenAiClient } from '../src/llm/openai-client.js'

declare module 'fastify' {
  interface FastifyInstance { registry: AgentRegistry }
}

export default fp(async (app, opts: { config: Config }) => {
  const llm = opts.config.llm && createOpenAiClient(opts.config.llm)
  const registry = new AgentRegistry()
  // the pack's tools read the usage records of the user each run belongs to; the assistant may
  // call every tool, AGENT_MODULES' included, so it reads the list from the finished registry
  const builtin = createBuiltinModule((ctx) => app.store.listUsage(ctx.user_id), { llm, tools: () => registry.tools(), prices: opts.config.prices })
  await registry.register(builtin).load(opts.config.agentModules)
  app.decorate('registry', registry)
}, { name: 'registry', dependencies: ['store'] })
