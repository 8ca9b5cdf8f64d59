import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Config } from '../src/config.js'
import { validateId } from '../src/core/context.js'
import { Errors } from '../src/errors.js'

/** Who a verified credential says the caller is. */
export interface Identity { user_id: string, exp: number }

declare module 'fastify' {
  interface FastifyInstance {
    /** true when tokens are signed with the locally made dev secret */
    devAuth: boolean
    /** verifies a bearer JWT; throws `unauthorized` */
    verifyToken (token: string): Identity
    /** signs a token for a user (dev mode only) */
    signDevToken (userId: string): { token: string, expires_at: string }
  }
  interface FastifyRequest {
    identity: Identity | null
  }
  interface FastifyContextConfig {
    /** no credential needed (CONTRACT §1) */
    public?: boolean
    /** a WebSocket upgrade: the Origin is checked and a `?ticket=` is taken too (CONTRACT §1) */
    upgrade?: boolean
  }
}

/** The dev secret lives in the data directory so tokens survive a restart. */
function devSecret (dataDir: string): string {
  const file = path.join(dataDir, 'dev-jwt-secret')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    mkdirSync(dataDir, { recursive: true })
    const secret = randomBytes(48).toString('base64url')
    writeFileSync(file, secret, { mode: 0o600 })
    return secret
  }
}

/**
 * Registers a third-party plugin whose routes need no credential (the docs, the chat page):
 * inside its own scope, every route it adds carries the same `public` flag as our public routes.
 */
export async function registerPublic (app: FastifyInstance, register: (scope: FastifyInstance) => PromiseLike<unknown>) {
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => { route.config = { ...route.config, public: true } })
    await register(scope)
  })
}

export function bearer (header: string | undefined): string | undefined {
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header ?? '')
  return m?.[1]
}

/** `Origin` must be allowed; absent (non-browser clients) is fine. Default: same origin only. */
export function originAllowed (request: FastifyRequest, allowed: string[] | undefined): boolean {
  const origin = request.headers.origin
  if (!origin) return true
  if (allowed) return allowed.includes('*') || allowed.includes(origin)
  try { return new URL(origin).host === request.headers.host } catch { return false }
}

export default fp(async (app, opts: { config: Config }) => {
  const { auth, production, dataDir, allowedOrigins } = opts.config
  const devAuth = !production && !auth.secret && !auth.publicKey
  const secret = auth.publicKey ?? auth.secret ?? devSecret(dataDir)
  const algorithms = auth.publicKey ? (/EC PUBLIC KEY|BEGIN PUBLIC KEY/.test(auth.publicKey) ? ['RS256', 'ES256'] : ['RS256']) : ['HS256']

  await app.register(fastifyJwt, {
    secret: auth.publicKey ? { public: auth.publicKey } : secret,
    // @fastify/jwt reads a numeric expiresIn as seconds
    sign: { algorithm: 'HS256', expiresIn: auth.devTokenTtlS },
    verify: {
      algorithms: algorithms as never,
      // fast-jwt checks iss/aud only when present: a configured one must also be required
      requiredClaims: ['exp', 'sub', ...(auth.issuer ? ['iss'] : []), ...(auth.audience ? ['aud'] : [])],
      ...(auth.issuer ? { allowedIss: auth.issuer } : {}),
      ...(auth.audience ? { allowedAud: auth.audience } : {})
    }
  })

  if (devAuth) {
    app.log.warn(`DEV AUTH MODE: tokens are signed with a local secret in ${dataDir}; anyone can mint one at POST /auth/dev-token. Set AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY (and NODE_ENV=production) before exposing this service.`)
  }

  app.decorate('devAuth', devAuth)
  app.decorate('verifyToken', (token: string): Identity => {
    let payload: { sub?: unknown, exp?: unknown }
    try {
      payload = app.jwt.verify(token)
    } catch (err) {
      const code = (err as { code?: string }).code ?? ''
      throw new Errors.Unauthorized(code.includes('EXPIRED') ? 'token expired' : 'invalid token')
    }
    try {
      return { user_id: validateId('user id', payload.sub), exp: Number(payload.exp) }
    } catch {
      throw new Errors.Unauthorized('invalid subject claim')
    }
  })
  app.decorate('signDevToken', (userId: string) => {
    const token = app.jwt.sign({ sub: userId })
    const { exp } = app.jwt.decode<{ exp: number }>(token)!
    return { token, expires_at: new Date(exp * 1000).toISOString() }
  })

  app.decorateRequest('identity', null)
  app.addHook('onRequest', async (request: FastifyRequest, _reply: FastifyReply) => {
    const config = request.routeOptions.config
    if (config?.public || request.is404) return
    if (config?.upgrade) return await authenticateUpgrade(request)
    const token = bearer(request.headers.authorization)
    if (!token) throw new Errors.Unauthorized('missing bearer token')
    request.identity = app.verifyToken(token)
  })

  /** Before a WebSocket upgrade (a refusal is an HTTP answer and no socket): Origin, then a header or a ticket. */
  async function authenticateUpgrade (request: FastifyRequest) {
    if (!originAllowed(request, allowedOrigins)) throw new Errors.ForbiddenOrigin()
    const token = bearer(request.headers.authorization)
    const ticket = (request.query as { ticket?: unknown } | undefined)?.ticket
    if (token) {
      request.identity = app.verifyToken(token)
    } else if (typeof ticket === 'string' && ticket.length <= 256) {
      const t = await app.store.consumeTicket(ticket, Date.now() / 1000)
      if (!t) throw new Errors.Unauthorized('invalid or used ticket')
      request.identity = { user_id: t.user_id, exp: t.token_exp }
    } else {
      throw new Errors.Unauthorized('missing credential: Authorization header or ?ticket=')
    }
  }
}, { name: 'auth', dependencies: ['store'] })
