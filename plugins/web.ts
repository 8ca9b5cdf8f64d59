import fastifyStatic from '@fastify/static'
import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { registerPublic } from './auth.js'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The built page (web/dist/, made by `npm run build:web`) at the package root: one level up from plugins/, two from dist/plugins/. */
export function webRoot (): string {
  for (const rel of ['../web/dist/', '../../web/dist/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(`${dir}index.html`)) return dir
  }
  throw new Error('web/dist/index.html not found: build the chat page with `npm run build:web` (npm install, npm start and npm test do)')
}

// the page renders text that came from agents: only its own script, styles and socket may run
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

function setHeaders (reply: FastifyReply) {
  reply.header('content-security-policy', CSP)
  reply.header('x-content-type-options', 'nosniff')
  reply.header('referrer-policy', 'no-referrer')
}

/** The chat page (web/), public like the docs (CONTRACT §1); `GET /` is its index.html. */
export default fp(async (app) => {
  const root = webRoot()
  // wildcard off: one route per file found at start, so an unknown path stays the router's 404
  await registerPublic(app, (page) => page.register(fastifyStatic, { root, wildcard: false, decorateReply: false, setHeaders }))
}, { name: 'web', dependencies: ['auth'] })
