import fp from 'fastify-plugin'
import { createMemoryBus } from '../src/bus/memory.js'
import type { EventBus } from '../src/bus/types.js'

declare module 'fastify' {
  interface FastifyInstance { bus: EventBus }
}

export default fp(async (app) => {
  const bus = createMemoryBus()
  app.decorate('bus', bus)
  app.addHook('onClose', () => bus.close())
}, { name: 'bus' })
