import fp from 'fastify-plugin'
import { createBuiltinModule } from '../src/agents/index.js'
import type { Config } from '../src/config.js'
import { AgentRegistry } from '../src/core/registry.js'

declare module 'fastify' {
  interface FastifyInstance { registry: AgentRegistry }
}

export default fp(async (app, opts: { config: Config }) => {
  // the pack's tools read the usage records of the user each run belongs to
  const builtin = createBuiltinModule((ctx) => app.store.listUsage(ctx.user_id))
  const registry = await new AgentRegistry().register(builtin).load(opts.config.agentModules)
  app.decorate('registry', registry)
}, { name: 'registry', dependencies: ['store'] })
