import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { RunEvent } from '../../client/src/index.js'
import { auth, tokenFor } from '../helpers/app.js'
import { listen, until, type Server } from '../helpers/ws.js'
import { stored } from './helpers.js'

/** The built binary: `npm test` builds it first (pretest); a lone run of this file builds it if missing. */
const BIN = path.resolve('client/dist/cli/main.js')
if (!existsSync(BIN)) execFileSync('npm', ['run', 'build', '--workspace', '@agentwire/client', '--silent'], { stdio: 'inherit' })

const HITL = { AGENT_MODULES: './test/fixtures/hitl-agents.mjs' }
const USER = 'cli-asked'

/**
 * `agentwire chat …` as a child process, not on a terminal. `answers` are [prompt, line] pairs:
 * each line is typed on stdin once its prompt has been written to stderr after the last one.
 */
async function chat (t: Test, server: Server, args: string[], answers: Array<[string, string]>) {
  const child = spawn(process.execPath, [BIN, 'chat', ...args, '--url', server.url, '--token', tokenFor(USER)], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill() })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  let from = 0
  for (const [prompt, line] of answers) {
    const at = await until(async () => { const i = stderr.indexOf(prompt, from); return i >= 0 ? i : undefined }, `the prompt "${prompt}"`)
    from = at + prompt.length
    child.stdin.write(`${line}\n`)
  }
  child.stdin.end()
  const code = await exited
  const thread = /thread (\S+) \(continue it/.exec(stderr)?.[1]
  return { code, stdout, stderr, thread }
}

/** The run of the chat, as stored. */
async function runOf (server: Server, threadId: string | undefined): Promise<RunEvent[]> {
  const messages = (await server.app.inject({ url: `/threads/${threadId}/messages`, headers: auth(USER) })).json().messages as Array<{ run_id: string | null }>
  return await stored(server.app, USER, messages.at(-1)!.run_id!)
}

const received = (events: RunEvent[]) => events.filter((e) => e.type === 'input_received').map((e) => {
  const { timestamp: _t, agent_id: _a, interrupt_id: _i, ...rest } = e.data as unknown as Record<string, unknown>
  return rest
})

const pay = ['pay bob', '--agent', 'payer', '--input', '{"args":{"to":"bob","amount":500}}']
const APPROVE = 'approve, reject or edit? [a/r/e] '

t.test('chat asks at the terminal: approve (y), reject (n, with a reason), edit the arguments', async (t) => {
  const server = await listen(t, HITL)

  await t.test('y approves', async (t) => {
    const res = await chat(t, server, pay, [[APPROVE, 'y']])
    t.equal(res.code, 0, 'exits 0')
    t.match(res.stderr, 'payer wants to call transfer with {"to":"bob","amount":500}')
    const events = await runOf(server, res.thread)
    t.strictSame(received(events), [{ agent_name: 'payer', kind: 'approval', by: 'user', decision: 'approve' }])
    t.equal(events.at(-1)!.type, 'run_completed')
    t.match(res.stdout, /Paying… sent 500 to bob\.\n$/, 'the answer')
  })

  await t.test('n rejects, with the reason typed', async (t) => {
    const res = await chat(t, server, pay, [[APPROVE, 'n'], ['reason (optional): ', 'too much']])
    t.equal(res.code, 0, 'exits 0')
    const events = await runOf(server, res.thread)
    t.strictSame(received(events), [{ agent_name: 'payer', kind: 'approval', by: 'user', decision: 'reject', reason: 'too much' }])
    t.equal(events.at(-1)!.type, 'run_completed')
    t.match(res.stdout, /Paying… not sent: the call was rejected: too much\n$/)
  })

  await t.test('e edits the arguments; arguments the tool refuses are asked again', async (t) => {
    const res = await chat(t, server, pay, [
      [APPROVE, 'e'], ['arguments (JSON): ', '{"to":"carol"}'],
      [APPROVE, 'e'], ['arguments (JSON): ', '{"to":"carol","amount":150}']
    ])
    t.equal(res.code, 0, 'exits 0')
    t.match(res.stderr, "not accepted: /arguments must have required property 'amount'")
    const events = await runOf(server, res.thread)
    t.strictSame(received(events), [{ agent_name: 'payer', kind: 'approval', by: 'user', decision: 'approve', arguments: { to: 'carol', amount: 150 } }])
    t.match(events.find((e) => e.type === 'tool_executing')!.data, { parameters: { to: 'carol', amount: 150 } })
    t.equal(events.at(-1)!.type, 'run_completed')
    t.match(res.stdout, /Paying… sent 150 to carol\.\n$/)
  })
})

t.test('chat asks a question at the terminal; an answer that does not meet its schema is asked again', async (t) => {
  const server = await listen(t, HITL)
  const res = await chat(t, server, ['count', '--agent', 'asker'], [['> ', 'zero'], ['> ', '0'], ['> ', '3']])
  t.equal(res.code, 0, 'exits 0')
  t.match(res.stderr, 'asker asks: How many?')
  t.match(res.stderr, 'not accepted: answer must be integer')
  t.match(res.stderr, 'not accepted: answer must be >= 1')
  const events = await runOf(server, res.thread)
  t.strictSame(received(events), [{ agent_name: 'asker', kind: 'question', by: 'user', answer: 3 }])
  t.equal(events.at(-1)!.type, 'run_completed')
  t.match(res.stdout, /You said 3\.\s+Done\.\n$/)
})
