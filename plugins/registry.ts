import fp from 'fastify-plugin'
import { builtinModule } from '../src/agents/index.js'
import type { Config } from '../src/config.js'
import { AgentRegistry } from '../src/core/registry.js'

declare module 'fastify' {
  interface FastifyInstance { registry: AgentRegistry }
}

export default fp(async (app, opts: { config: Config }) => {
  const registry = await new AgentRegistry().register(builtinModule).load(opts.config.agentModules)
  app.decorate('registry', registry)
}, { name: 'registry' })
