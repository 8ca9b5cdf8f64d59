import { createHmac, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** What `agentwire token` signs with, read from the same environment as the server's. */
export type SigningKey = { alg: 'HS256', secret: string } | { alg: 'RS256' | 'ES256', key: KeyObject }

export const USER_ID = /^[A-Za-z0-9._@:-]{1,128}$/

/**
 * `AUTH_JWT_SECRET` (HS256, at least 32 bytes), or a private key for RS256/ES256:
 * `--key <file>`, `AUTH_JWT_PRIVATE_KEY_FILE` or `AUTH_JWT_PRIVATE_KEY` (PEM).
 */
export function signingKey (env: NodeJS.ProcessEnv, keyFile?: string): SigningKey {
  const file = keyFile ?? env.AUTH_JWT_PRIVATE_KEY_FILE
  const pem = file ? readFileSync(file, 'utf8') : env.AUTH_JWT_PRIVATE_KEY
  if (pem) {
    const key = createPrivateKey(pem)
    if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256', key }
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { alg: 'ES256', key }
    throw new Error(`the private key is ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}: RS256 needs an RSA key, ES256 a P-256 key`.replace(/ +:/, ':'))
  }
  const secret = env.AUTH_JWT_SECRET
  if (secret) {
    if (Buffer.byteLength(secret) < 32) throw new Error('AUTH_JWT_SECRET must be at least 32 bytes (the server refuses a shorter one)')
    return { alg: 'HS256', secret }
  }
  throw new Error('nothing to sign with: set AUTH_JWT_SECRET, or AUTH_JWT_PRIVATE_KEY_FILE / --key <file> for RS256/ES256')
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** A JWT for `userId` valid `ttlS` seconds, with `iss`/`aud` when the environment sets them. */
export function mintToken (key: SigningKey, userId: string, ttlS: number, env: NodeJS.ProcessEnv, now = Date.now()): { token: string, expires_at: string } {
  if (!USER_ID.test(userId)) throw new Error('the user id must be 1..128 characters of A-Z a-z 0-9 . _ @ : -')
  const iat = Math.floor(now / 1000)
  const exp = iat + ttlS
  const claims = {
    sub: userId,
    iat,
    exp,
    jti: randomUUID(),
    ...(env.AUTH_JWT_ISSUER && { iss: env.AUTH_JWT_ISSUER }),
    ...(env.AUTH_JWT_AUDIENCE && { aud: env.AUTH_JWT_AUDIENCE })
  }
  const input = `${b64({ alg: key.alg, typ: 'JWT' })}.${b64(claims)}`
  const signature = key.alg === 'HS256'
    ? createHmac('sha256', key.secret).update(input).digest()
    : sign('sha256', Buffer.from(input), key.alg === 'ES256' ? { key: key.key, dsaEncoding: 'ieee-p1363' } : key.key)
  return { token: `${input}.${signature.toString('base64url')}`, expires_at: new Date(exp * 1000).toISOString() }
}
