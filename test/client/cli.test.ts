import { execFileSync, spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { buildApp, type App } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { TEST_SECRET, tokenFor } from '../helpers/app.js'
import { SLOW_AGENTS, listen, range, slowRunTypes, until } from '../helpers/ws.js'
import { portOf, stored } from './helpers.js'

/** The built binary: `npm test` builds it first (pretest); a lone run of this file builds it if missing. */
const BIN = path.resolve('client/dist/cli/main.js')
if (!existsSync(BIN)) execFileSync('npm', ['run', 'build', '--workspace', '@agentwire/client', '--silent'], { stdio: 'inherit' })

interface Result { code: number | null, stdout: string, stderr: string }

/** Runs `agentwire …` with only the environment given (plus PATH); `during` gets the child while it runs. */
function agentwire (args: string[], env: Record<string, string> = {}, during?: (child: ReturnType<typeof spawn>, output: () => string) => Promise<void>): Promise<Result> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return (async () => {
    if (during) await during(child, () => stdout)
    return { code: await exited, stdout, stderr }
  })()
}

/** The app listening on a free port with exactly this environment (no test secret: dev mode, or the key given). */
async function serve (t: Test, env: Record<string, string>): Promise<{ app: App, url: string }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agentwire-cli-'))
  const app = await buildApp(loadConfig({ DATABASE_URL: 'sqlite::memory:', DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env }))
  t.teardown(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: `http://127.0.0.1:${portOf(app)}` }
}

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())
const status = async (url: string, token: string) => (await fetch(`${url}/threads`, { headers: { authorization: `Bearer ${token}` } })).status

t.test('token: HS256 from AUTH_JWT_SECRET, RS256 and ES256 from a key file, iss and aud from the environment', async (t) => {
  const server = await listen(t)
  const hs = await agentwire(['token', '--user', 'alice', '--ttl', '120'], { AUTH_JWT_SECRET: TEST_SECRET })
  t.equal(hs.code, 0)
  t.equal(hs.stderr, '')
  const token = hs.stdout.trim()
  t.match(hs.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'the token alone, on one line')
  t.equal(claims(token).sub, 'alice')
  t.equal(claims(token).exp - claims(token).iat, 120)
  t.equal(await status(server.url, token), 200, 'the server takes it')

  const json = await agentwire(['token', '--user', 'bob', '--json'], { AUTH_JWT_SECRET: TEST_SECRET })
  const minted = JSON.parse(json.stdout)
  t.strictSame(Object.keys(minted), ['token', 'expires_at'])
  t.equal(new Date(minted.expires_at).getTime() / 1000, claims(minted.token).exp)
  t.equal(claims(minted.token).exp - claims(minted.token).iat, 3600, 'an hour by default')

  const dir = t.testdir()
  for (const [alg, pair] of [
    ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })]
  ] as const) {
    const keyFile = path.join(dir, `${alg}.pem`)
    writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }))
    const publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const keyed = await serve(t, { AUTH_JWT_PUBLIC_KEY: publicKey, AUTH_JWT_ISSUER: 'https://issuer.example', AUTH_JWT_AUDIENCE: 'agentwire' })
    const env = { AUTH_JWT_ISSUER: 'https://issuer.example', AUTH_JWT_AUDIENCE: 'agentwire' }
    const fromFile = await agentwire(['token', '--user', 'carol', '--key', keyFile], env)
    t.equal(fromFile.code, 0, `${alg}: ${fromFile.stderr}`)
    const signed = fromFile.stdout.trim()
    t.equal(JSON.parse(Buffer.from(signed.split('.')[0], 'base64url').toString()).alg, alg)
    t.match(claims(signed), { sub: 'carol', iss: 'https://issuer.example', aud: 'agentwire' })
    t.equal(await status(keyed.url, signed), 200, `${alg}: the server with the public key takes it`)
    const fromEnv = await agentwire(['token', '--user', 'carol'], { ...env, AUTH_JWT_PRIVATE_KEY_FILE: keyFile })
    t.equal(await status(keyed.url, fromEnv.stdout.trim()), 200, `${alg}: AUTH_JWT_PRIVATE_KEY_FILE`)
    const noIssuer = await agentwire(['token', '--user', 'carol', '--key', keyFile])
    t.equal(await status(keyed.url, noIssuer.stdout.trim()), 401, `${alg}: without the issuer and audience the server refuses it`)
  }

  t.strictSame(await agentwire(['token', '--user', 'alice']), {
    code: 1, stdout: '', stderr: 'agentwire: nothing to sign with: set AUTH_JWT_SECRET, or AUTH_JWT_PRIVATE_KEY_FILE / --key <file> for RS256/ES256\n'
  })
  const short = await agentwire(['token', '--user', 'alice'], { AUTH_JWT_SECRET: 'short' })
  t.strictSame([short.code, short.stderr], [1, 'agentwire: AUTH_JWT_SECRET must be at least 32 bytes (the server refuses a shorter one)\n'])
  const badUser = await agentwire(['token', '--user', 'no spaces'], { AUTH_JWT_SECRET: TEST_SECRET })
  t.equal(badUser.code, 2)
  t.match(badUser.stderr, /^agentwire: --user must be 1\.\.128 characters/)
  const noUser = await agentwire(['token'], { AUTH_JWT_SECRET: TEST_SECRET })
  t.equal(noUser.code, 2)
  t.match(noUser.stderr, /^agentwire: token needs --user <id>\n\nagentwire: a command line/)
})

/** A chat's plain output with the durations, which vary, made fixed. */
const steady = (s: string) => s.replace(/in \d+(\.\d+)? m?s/g, 'in N ms')

t.test('chat, not on a terminal: one line per event, then the answer; the thread id on stderr', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const res = await agentwire(['chat', 'count to two', '--agent', 'slow', '--input', '{"steps":2,"ms":10}', '--url', server.url, '--token', tokenFor('chatter')])
  t.equal(res.code, 0, res.stderr)
  t.equal(steady(res.stdout), [
    '▶ slow: Running slow',
    '  slow … step 1 of 2',
    '  slow → wait {"ms":10}',
    '  slow · wait: waiting (0%)',
    '  slow · wait: half way (50%)',
    '  slow ✓ wait success in N ms',
    '  slow … step 2 of 2',
    '  slow → wait {"ms":10}',
    '  slow · wait: waiting (0%)',
    '  slow · wait: half way (50%)',
    '  slow ✓ wait success in N ms',
    '✓ slow done in N ms',
    'run completed',
    '',
    'waited 2 times',
    ''
  ].join('\n'))
  const thread = /^thread (\S+) \(continue it with --thread \1\)\n$/.exec(res.stderr)
  t.ok(thread, `stderr names the thread: ${res.stderr}`)

  const next = await agentwire(['chat', 'again', '--agent', 'slow', '--thread', thread![1], '--input', '{"steps":1,"ms":0}'], { AGENTWIRE_URL: server.url, AGENTWIRE_TOKEN: tokenFor('chatter') })
  t.equal(next.code, 0, next.stderr)
  t.match(next.stdout, /\nwaited 1 times\n$/)
  const messages = (await server.app.inject({ url: `/threads/${thread![1]}/messages`, headers: { authorization: `Bearer ${tokenFor('chatter')}` } })).json().messages
  t.strictSame(messages.map((m: { content: string }) => m.content), ['count to two', 'waited 2 times', 'again', 'waited 1 times'], '--thread continues the thread')

  const unknown = await agentwire(['chat', 'hi', '--agent', 'nobody', '--url', server.url, '--token', tokenFor('chatter')])
  t.strictSame(unknown, { code: 1, stdout: '', stderr: 'agentwire: no agent named "nobody" (unknown_agent)\n' })
  const failed = await agentwire(['chat', 'hi', '--agent', 'slow', '--input', '{"steps":1,"ms":3000}', '--url', server.url, '--token', tokenFor('chatter')], {}, async (child, output) => {
    await until(async () => output().includes('→ wait') || undefined, 'the tool call')
    await fetch(`${server.url}/runs/${(await latestRun(server.url, 'chatter'))}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${tokenFor('chatter')}` } })
  })
  t.equal(failed.code, 1)
  t.match(failed.stdout, /\nrun cancelled: .+\n$/)
  t.match(failed.stderr, /agentwire: the run was cancelled: .+\n$/)
})

/** The run id of a user's newest thread's active run. */
async function latestRun (url: string, user: string): Promise<string> {
  const headers = { authorization: `Bearer ${tokenFor(user)}` }
  const { threads } = await (await fetch(`${url}/threads?limit=1`, { headers })).json() as { threads: Array<{ active_run_id: string }> }
  return threads[0].active_run_id
}

/* eslint-disable no-control-regex -- the live output is escape codes */
t.test('chat on a terminal draws a live tree with spinners and ends with it settled and the answer', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const res = await agentwire(['chat', 'hi', '--agent', 'slow', '--input', '{"steps":2,"ms":300}', '--url', server.url, '--token', tokenFor('tty')], { AGENTWIRE_LIVE: '1' })
  t.equal(res.code, 0, res.stderr)
  t.ok(res.stdout.startsWith('\x1b[?25l'), 'the cursor is hidden while it draws')
  t.match(res.stdout, /\x1b\[\d+F/, 'it redraws in place')
  t.match(res.stdout, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\x1b\[39m \x1b\[1mslow\x1b\[22m/, 'a spinner next to the running agent')
  t.match(res.stdout, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\x1b\[39m wait \x1b\[2mhalf way 50%/, 'a spinner next to the running tool, with its progress')
  // the last frame, without colours: the settled tree, then the answer
  const last = res.stdout.slice(res.stdout.lastIndexOf('F') + 1).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
  t.equal(steady(last), [
    '✓ slow N ms'.replace('N ms', last.match(/✓ slow (\S+ m?s)/)![1]),
    `  ✓ wait ${last.match(/ {2}✓ wait (\S+ m?s)/)![1]}`,
    `  ✓ wait ${[...last.matchAll(/ {2}✓ wait (\S+ m?s)/g)][1][1]}`,
    '',
    'waited 2 times',
    ''
  ].join('\n'))
})
/* eslint-enable no-control-regex */

t.test('chat with no token against a dev server fetches a dev token for --user', async (t) => {
  const { app, url } = await serve(t, { AGENT_MODULES: SLOW_AGENTS })
  const res = await agentwire(['chat', 'who am i', '--agent', 'slow', '--input', '{"steps":1,"ms":0}', '--url', url, '--user', 'dana'])
  t.equal(res.code, 0, res.stderr)
  const threadId = /^thread (\S+)/.exec(res.stderr)![1]
  const { token } = (await app.inject({ method: 'POST', url: '/auth/dev-token', payload: { user_id: 'dana' } })).json()
  t.equal((await app.inject({ url: `/threads/${threadId}`, headers: { authorization: `Bearer ${token}` } })).statusCode, 200, 'the thread is dana\'s')

  const keyed = await listen(t)
  const refused = await agentwire(['chat', 'hi', '--url', keyed.url])
  t.strictSame(refused, { code: 1, stdout: '', stderr: 'agentwire: no token: pass --token or set AGENTWIRE_TOKEN (this server does not hand out dev tokens) (unauthorized)\n' })
})

t.test('usage upload: what was inserted, duplicates on a second upload, and every refused line', async (t) => {
  const server = await listen(t)
  const dir = t.testdir()
  const csv = path.join(dir, 'usage.csv')
  writeFileSync(csv, [
    'timestamp,provider,model,input_tokens,output_tokens,request_id',
    '2025-08-01T09:00:00Z,openai,gpt-4o,1000,100,r-1',
    '2025-08-01T10:00:00Z,anthropic,claude-sonnet-4,2000,300,r-2'
  ].join('\n'))
  const common = ['--url', server.url, '--token', tokenFor('uploader')]
  t.strictSame(await agentwire(['usage', 'upload', csv, ...common]), { code: 0, stdout: 'inserted 2, duplicates 0 (2 rows)\n', stderr: '' })
  t.strictSame(await agentwire(['usage', 'upload', csv, ...common]), { code: 0, stdout: 'inserted 0, duplicates 2 (2 rows)\n', stderr: '' })

  const ndjson = path.join(dir, 'more.jsonl')
  writeFileSync(ndjson, '{"timestamp":"2025-08-02T09:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":5,"output_tokens":1,"request_id":"r-3"}\n')
  t.strictSame(await agentwire(['usage', 'upload', ndjson, ...common]), { code: 0, stdout: 'inserted 1, duplicates 0 (1 rows)\n', stderr: '' })

  const bad = path.join(dir, 'bad.ndjson')
  writeFileSync(bad, '{"timestamp":"2025-08-02T09:00:00Z","provider":"openai","model":"gpt-4o","input_tokens":5,"output_tokens":1}\n[1]\n{"provider":"openai"}\n')
  const refused = await agentwire(['usage', 'upload', bad, ...common])
  t.equal(refused.code, 1)
  t.equal(refused.stdout, '')
  const lines = refused.stderr.trimEnd().split('\n')
  t.equal(lines[0], 'agentwire: 2 bad rows, nothing imported')
  t.equal(lines[1], '  line 2: expected a JSON object')
  t.match(lines[2], /^ {2}line 3: /)
  t.equal(lines.length, 3)

  const unknown = await agentwire(['usage', 'upload', path.join(dir, 'usage.txt'), ...common])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /^agentwire: cannot tell the format from the file name: pass --format csv, ndjson or json\n/)
})

t.test('runs tail prints each event once as it comes, across dropped connections', async (t) => {
  const server = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const headers = { authorization: `Bearer ${tokenFor('tailer')}`, 'content-type': 'application/json' }
  const posted = await fetch(`${server.url}/messages`, { method: 'POST', headers, body: JSON.stringify({ content: 'tail me', agent: 'slow', input: { steps: 8, ms: 1500 } }) })
  const { run_id } = await posted.json() as { run_id: string }
  const n = slowRunTypes(8).length
  const printed = (out: string) => out.split('\n').filter(Boolean).length

  const res = await agentwire(['runs', 'tail', run_id, '--url', server.url, '--token', tokenFor('tailer')], {}, async (_child, output) => {
    // two drops while it runs, the second once lines came after the first (the tail is back)
    let after = 1
    for (let drop = 0; drop < 2; drop++) {
      // and its socket is open again: lines may arrive before it does (read back over HTTP)
      await until(async () => (printed(output()) >= after && server.app.websocketServer.clients.size > 0) || undefined, `${after} lines and a socket`)
      for (const socket of server.app.websocketServer.clients) socket.terminate()
      after = printed(output()) + 2
    }
  })
  t.equal(res.code, 0, res.stderr)
  const all = await stored(server.app, 'tailer', run_id)
  const lines = res.stdout.trimEnd().split('\n')
  t.strictSame(lines.map((l) => Number(l.slice(0, 4))), range(1, n), 'every seq once, in order')
  t.equal(steady(lines[0]), '   1 ▶ slow: Running slow')
  t.equal(steady(lines[n - 1]), `${String(n).padStart(4)} run completed`)
  t.equal(all.length, n)
  t.match(res.stderr, /connection lost \(1006\)\nreconnected: resuming after seq \d+\n[^]*connection lost \(1006\)\nreconnected: resuming after seq \d+\n/)

  const json = await agentwire(['runs', 'tail', run_id, '--after-seq', '20', '--json', '--url', server.url, '--token', tokenFor('tailer')])
  t.equal(json.code, 0)
  t.strictSame(json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), all.slice(20))

  const missing = await agentwire(['runs', 'tail', 'nope', '--url', server.url, '--token', tokenFor('tailer')])
  t.strictSame(missing, { code: 1, stdout: '', stderr: 'agentwire: run not found (not_found)\n' })
})
