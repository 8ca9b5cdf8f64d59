import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'
import { countErrors } from '../src/store/count-errors.js'
import { createStore } from '../src/store/kysely-store.js'
import type { Store } from '../src/store/types.js'

declare module 'fastify' {
  interface FastifyInstance { store: Store }
}

export default fp(async (app, opts: { config: Config }) => {
  const store = countErrors(await createStore(opts.config.databaseUrl), (operation) => app.metrics.storeErrors.inc({ operation }))
  app.decorate('store', store)
  app.addHook('onClose', () => store.close())
}, { name: 'store', dependencies: ['metrics'] })
