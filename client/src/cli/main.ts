#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline/promises'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { AgentwireClient, type ConnectionStatus } from '../client.js'
import { AgentwireError } from '../errors.js'
import { AgentwireHttp, type UsageFormat } from '../http.js'
import { TokenSource } from '../token.js'
import type { Run } from '../run.js'
import type { Multitask, RunEvent, RunEventOf } from '../wire.js'
import { COLOR, PLAIN, renderMarkdown } from './markdown.js'
import { mintToken, signingKey, USER_ID } from './mint.js'
import { RunTree, SPINNER } from './tree.js'

const HELP = `agentwire: a command line for an agentwire service

  agentwire token --user <id> [--ttl <seconds>] [--key <file>] [--json]
      Mints a JWT for <id> from AUTH_JWT_SECRET (HS256), or from the private key in --key,
      AUTH_JWT_PRIVATE_KEY_FILE or AUTH_JWT_PRIVATE_KEY (RS256/ES256). AUTH_JWT_ISSUER and
      AUTH_JWT_AUDIENCE, when set, become its iss and aud. For operators.
  agentwire chat "<question>" [--agent <name>] [--thread <id>] [--input <json>] [--multitask reject|enqueue|interrupt]
      Asks, shows the run live (agents, sub-agents and tools), then the answer. Ctrl-C cancels the run.
      An approval or a question the run asks for is asked here, at the terminal.
  agentwire usage upload <file> [--format csv|ndjson|json]
      Imports LLM usage records; prints what was inserted, or each refused line.
  agentwire runs tail <run_id> [--after-seq <n>] [--json]
      Prints each event of a run as it comes, until its end; resumes across dropped connections.

Every command but token takes:
  --url <url>      the service (default $AGENTWIRE_URL, else http://127.0.0.1:3000)
  --token <jwt>    the bearer token (default $AGENTWIRE_TOKEN; with neither, a dev server's
                   POST /auth/dev-token for --user, default $AGENTWIRE_USER or your login name)
`

const COMMON = {
  url: { type: 'string' },
  token: { type: 'string' },
  user: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies ParseArgsConfig['options']

class UsageError extends Error {}

const out = (line = '') => { process.stdout.write(line + '\n') }
const err = (line: string) => { process.stderr.write(line + '\n') }

function parse<O extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
}

interface Common { url?: string, token?: string, user?: string }

function baseUrl (opts: Common): string {
  return opts.url ?? process.env.AGENTWIRE_URL ?? 'http://127.0.0.1:3000'
}

/** --token, $AGENTWIRE_TOKEN, or a dev server's dev token for the user. */
async function tokenFor (opts: Common): Promise<string> {
  const token = opts.token ?? process.env.AGENTWIRE_TOKEN
  if (token) return token
  const user = opts.user ?? process.env.AGENTWIRE_USER ?? (os.userInfo().username.replace(/[^A-Za-z0-9._@:-]/g, '') || 'dev')
  const http = new AgentwireHttp(baseUrl(opts), new TokenSource(undefined, 0, Date.now), globalThis.fetch)
  try {
    return (await http.devToken(user)).token
  } catch (e) {
    if (e instanceof AgentwireError && e.code === 'not_found') throw new AgentwireError('unauthorized', 'no token: pass --token or set AGENTWIRE_TOKEN (this server does not hand out dev tokens)')
    throw e
  }
}

async function client (opts: Common, onStatus?: (s: ConnectionStatus) => void): Promise<AgentwireClient> {
  return new AgentwireClient({ url: baseUrl(opts), token: await tokenFor(opts), onStatus, reconnect: { maxAttempts: 30 } })
}

function token (args: string[]): number {
  const { values } = parse(args, { ttl: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } })
  if (!values.user) throw new UsageError('token needs --user <id>')
  if (!USER_ID.test(values.user)) throw new UsageError('--user must be 1..128 characters of A-Z a-z 0-9 . _ @ : -')
  const ttl = values.ttl === undefined ? 3600 : Number(values.ttl)
  if (!Number.isInteger(ttl) || ttl < 1) throw new UsageError('--ttl must be a whole number of seconds ≥ 1')
  const minted = mintToken(signingKey(process.env, values.key), values.user, ttl, process.env)
  out(values.json ? JSON.stringify(minted) : minted.token)
  return 0
}

/** A failed or cancelled run is exit code 1; Ctrl-C 130. */
async function chat (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    agent: { type: 'string' },
    thread: { type: 'string' },
    input: { type: 'string' },
    multitask: { type: 'string' }
  })
  const question = positionals.join(' ').trim()
  if (!question) throw new UsageError('chat needs a question: agentwire chat "How can we cut our LLM costs?"')
  let input: Record<string, unknown> | undefined
  if (values.input !== undefined) {
    try { input = JSON.parse(values.input) } catch { throw new UsageError('--input must be a JSON object') }
    if (!input || typeof input !== 'object' || Array.isArray(input)) throw new UsageError('--input must be a JSON object')
  }
  if (values.multitask !== undefined && !['reject', 'enqueue', 'interrupt'].includes(values.multitask)) throw new UsageError('--multitask is reject, enqueue or interrupt')

  const live = process.stdout.isTTY === true || process.env.AGENTWIRE_LIVE === '1'
  const style = live && !process.env.NO_COLOR ? COLOR : PLAIN
  const tree = new RunTree()
  let note = ''
  const c = await client(values, (s) => {
    const was = note
    if (s.state === 'reconnecting' && s.attempt > 1) note = `reconnecting (attempt ${s.attempt})…`
    else if (s.state === 'disconnected') note = `connection lost (${s.code}), reconnecting…`
    else if (s.state === 'connected') note = ''
    if (!live && note && note !== was) err(note)
  })
  try {
    const run = await c.send(question, { agent: values.agent, thread_id: values.thread, input, multitask: values.multitask as Multitask | undefined })
    let interrupted = false
    const onSigint = () => {
      if (interrupted) {
        if (live) process.stdout.write('\x1b[?25h\n')
        process.exit(130)
      }
      interrupted = true
      note = 'cancelling… (Ctrl-C again to quit)'
      if (!live) err(note)
      run.cancel().catch(() => {})
    }
    process.on('SIGINT', onSigint)

    let frame = 0
    let drawn = 0
    const draw = (final = false) => {
      const width = Math.max(20, (process.stdout.columns ?? 100) - 1)
      const height = Math.max(5, (process.stdout.rows ?? 40) - 2)
      let lines = tree.lines(style, width, frame)
      if (!final) lines.push(style.dim(`${SPINNER[frame % SPINNER.length]} ${note || tree.status}`))
      if (lines.length > height) lines = lines.slice(-height)
      let text = drawn > 0 ? `\x1b[${drawn}F` : ''
      for (const line of lines) text += `${line}\x1b[K\n`
      process.stdout.write(text + '\x1b[J')
      drawn = lines.length
    }
    let ticker: ReturnType<typeof setInterval> | undefined
    if (live) {
      process.stdout.write('\x1b[?25l')
      ticker = setInterval(() => { frame++; draw() }, 100)
    }
    let end: RunEvent | undefined
    try {
      for await (const event of run.events()) {
        end = event
        if (live) {
          tree.add(event)
          draw()
        } else {
          const line = tree.line(event)
          if (line) out(line)
        }
        if (event.type === 'input_requested') {
          clearInterval(ticker)
          await answerAtTerminal(run, event)
          if (live) ticker = setInterval(() => { frame++; draw() }, 100)
        }
      }
    } finally {
      clearInterval(ticker)
      process.off('SIGINT', onSigint)
      if (live) {
        draw(true)
        process.stdout.write('\x1b[?25h')
      }
    }
    err(`thread ${run.thread_id} (continue it with --thread ${run.thread_id})`)
    if (end?.type === 'run_completed') {
      const result = end.data.result as { answer?: unknown } | string
      const answer = typeof result === 'string' ? result : typeof result?.answer === 'string' ? result.answer : undefined
      out()
      out(answer !== undefined ? renderMarkdown(answer, style, (process.stdout.columns ?? 100) - 1) : JSON.stringify(result, null, 2))
      return 0
    }
    if (end?.type === 'run_failed') err(`agentwire: the run failed: ${end.data.error.message} (${end.data.error.code})`)
    if (end?.type === 'run_cancelled') err(`agentwire: the run was cancelled: ${end.data.reason}`)
    return interrupted ? 130 : 1
  } finally {
    c.close()
  }
}

/** Asks the person at the terminal (stderr, stdin) for the run's approval or answer, until one is taken. */
async function answerAtTerminal (run: Run, event: RunEventOf<'input_requested'>): Promise<void> {
  const d = event.data
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    for (;;) {
      let body: Parameters<Run['respond']>[1]
      if (d.kind === 'approval') {
        err(`\n${d.agent_name} wants to call ${d.tool_name ?? 'a tool'} with ${JSON.stringify(d.arguments)}`)
        const choice = (await rl.question('approve, reject or edit? [a/r/e] ')).trim().toLowerCase()
        if (choice.startsWith('e')) {
          const text = await rl.question('arguments (JSON): ')
          let args: unknown
          try { args = JSON.parse(text) } catch { err('not JSON'); continue }
          body = { decision: 'approve', arguments: args as Record<string, unknown> }
        } else if (choice.startsWith('a') || choice.startsWith('y')) {
          body = { decision: 'approve' }
        } else {
          const reason = (await rl.question('reason (optional): ')).trim()
          body = { decision: 'reject', ...(reason && { reason }) }
        }
      } else {
        err(`\n${d.agent_name} asks: ${d.question ?? ''}`)
        const text = (await rl.question('> ')).trim()
        // JSON when it parses (numbers, booleans, objects), the text itself otherwise
        let answer: unknown = text
        try { answer = JSON.parse(text) } catch {}
        if ((d.schema as { type?: string } | undefined)?.type === 'string') answer = text
        if ((d.schema as { type?: string } | undefined)?.type === 'boolean' && /^(y|yes|n|no)$/i.test(text)) answer = /^y/i.test(text)
        body = { answer }
      }
      try {
        await run.respond(d.interrupt_id, body)
        return
      } catch (e) {
        if (!(e instanceof AgentwireError) || e.code !== 'invalid_request') { err(`agentwire: ${(e as Error).message}`); return }
        err(`not accepted: ${e.message}`)
      }
    }
  } catch {
    // stdin closed: the run waits for an answer from elsewhere, or its expiry
  } finally {
    rl.close()
  }
}

const FORMATS: Record<string, UsageFormat> = { '.csv': 'csv', '.ndjson': 'ndjson', '.jsonl': 'ndjson', '.json': 'json' }

async function upload (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { format: { type: 'string' } })
  const [file, ...extra] = positionals
  if (!file || extra.length) throw new UsageError('usage upload takes one file: agentwire usage upload usage.csv')
  const format = (values.format ?? FORMATS[path.extname(file).toLowerCase()]) as UsageFormat | undefined
  if (!format || !['csv', 'ndjson', 'json'].includes(format)) throw new UsageError('cannot tell the format from the file name: pass --format csv, ndjson or json')
  const body = readFileSync(file, 'utf8')
  const http = new AgentwireHttp(baseUrl(values), new TokenSource(await tokenFor(values), 0, Date.now), globalThis.fetch)
  try {
    const r = await http.uploadUsage(body, format)
    out(`inserted ${r.inserted}, duplicates ${r.duplicates} (${r.total_rows} rows)`)
    return 0
  } catch (e) {
    if (!(e instanceof AgentwireError) || !e.errors) throw e
    // the message repeats the first bad lines after its `:`; every one of them follows
    err(`agentwire: ${e.message.split(':')[0]}`)
    for (const { line, reason } of e.errors) err(`  line ${line}: ${reason}`)
    return 1
  }
}

async function tail (args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { 'after-seq': { type: 'string' }, json: { type: 'boolean' } })
  const [runId, ...extra] = positionals
  if (!runId || extra.length) throw new UsageError('runs tail takes one run id: agentwire runs tail <run_id>')
  const afterSeq = values['after-seq'] === undefined ? 0 : Number(values['after-seq'])
  if (!Number.isInteger(afterSeq) || afterSeq < 0) throw new UsageError('--after-seq must be a whole number ≥ 0')
  let run: Awaited<ReturnType<AgentwireClient['run']>> | undefined
  const c = await client(values, (s) => {
    if (s.state === 'disconnected') err(`connection lost (${s.code}${s.reason ? ` ${s.reason}` : ''})`)
    if (s.state === 'connected' && s.reason === 'reconnect' && run) err(`reconnected: resuming after seq ${run.lastSeq}`)
  })
  try {
    run = await c.run(runId, { after_seq: afterSeq })
    const tree = new RunTree()
    for await (const event of run.events()) out(values.json ? JSON.stringify(event) : `${String(event.seq).padStart(4)} ${tree.line(event)}`)
    return 0
  } finally {
    c.close()
  }
}

export async function main (argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      out(HELP)
      return 0
    }
    if (argv.includes('--help') || argv.includes('-h')) {
      out(HELP)
      return 0
    }
    if (command === 'token') return token(argv.slice(1))
    if (command === 'chat') return await chat(argv.slice(1))
    if (command === 'usage' && sub === 'upload') return await upload(rest)
    if (command === 'runs' && sub === 'tail') return await tail(rest)
    throw new UsageError(`unknown command: ${argv.slice(0, 2).join(' ')}`)
  } catch (e) {
    if (e instanceof UsageError) {
      err(`agentwire: ${e.message}\n\n${HELP}`)
      return 2
    }
    if (e instanceof AgentwireError) {
      err(`agentwire: ${e.message} (${e.code}${e.retryAfter ? `, retry after ${e.retryAfter} s` : ''})`)
      return 1
    }
    err(`agentwire: ${(e as Error).message ?? e}`)
    return 1
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code })
