import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What one scripted model reply does. */
export type FakeReply =
  /** text, streamed in `pieces` content deltas (default 3) */
  | { text: string, pieces?: number }
  /** tool calls, each with its arguments streamed in several fragments; optional text first */
  | { tool_calls: Array<{ name: string, arguments: string, id?: string }>, text?: string }
  /** text streamed, then the connection held open without another byte */
  | { stall: string }
  /** no answer at all: the request is held open, not even headers */
  | { hang: true }
  /** an HTTP error with an OpenAI-style error body */
  | { status: number, message?: string }
  /** SSE data lines sent as they are, then `[DONE]` */
  | { raw: string[] }

export interface RecordedRequest {
  path: string
  headers: IncomingHttpHeaders
  body: any
}

export type Responder = (request: RecordedRequest, index: number) => FakeReply

export interface FakeOpenAi {
  /** the base URL to give the client: `http://127.0.0.1:<port>/v1` */
  url: string
  /** every request, in arrival order */
  requests: RecordedRequest[]
  /** replies for the next requests, in order; they go before `otherwise` */
  script (...replies: Array<FakeReply | Responder>): void
  /** the reply to any request the script does not cover (default: a 500 saying so) */
  otherwise: FakeReply | Responder
  /** how many requests are being held open right now */
  held (): number
  close (): Promise<void>
}

/**
 * A tiny OpenAI-compatible server on 127.0.0.1 (port 0): POST /v1/chat/completions answers with
 * `stream: true` SSE chunks as the tests script them, and records every request.
 */
export async function startFakeOpenAi (t?: { teardown (fn: () => unknown): void }): Promise<FakeOpenAi> {
  const requests: RecordedRequest[] = []
  const queue: Array<FakeReply | Responder> = []
  const open = new Set<ServerResponse>()
  let n = 0

  const server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { raw += c })
    req.on('end', () => {
      let body: any
      try { body = JSON.parse(raw) } catch { body = raw }
      const recorded: RecordedRequest = { path: req.url ?? '', headers: req.headers, body }
      requests.push(recorded)
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        return sendError(res, 404, `no route ${req.method} ${req.url}`)
      }
      const next = queue.shift() ?? fake.otherwise
      const reply = typeof next === 'function' ? next(recorded, n) : next
      n++
      answer(res, reply, String(body?.model ?? 'fake-model'))
    })
  })

  function answer (res: ServerResponse, reply: FakeReply, model: string) {
    if ('status' in reply) return sendError(res, reply.status, reply.message ?? 'scripted failure')
    if ('hang' in reply) return hold(res)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    const id = `chatcmpl-${n}`
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1725659742, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`)
    if ('raw' in reply) {
      for (const line of reply.raw) res.write(`data: ${line}\n\n`)
      res.end('data: [DONE]\n\n')
      return
    }
    chunk({ role: 'assistant', content: '' })
    if ('stall' in reply) {
      for (const piece of split(reply.stall, 2)) chunk({ content: piece })
      return hold(res)
    }
    if ('text' in reply && reply.text) for (const piece of split(reply.text, 'pieces' in reply ? reply.pieces ?? 3 : 3)) chunk({ content: piece })
    if ('tool_calls' in reply) {
      reply.tool_calls.forEach((call, index) => {
        chunk({ tool_calls: [{ index, id: call.id ?? `call_${n}_${index}`, type: 'function', function: { name: call.name, arguments: '' } }] })
        for (const piece of split(call.arguments, 3)) chunk({ tool_calls: [{ index, function: { arguments: piece } }] })
      })
    }
    chunk({}, 'tool_calls' in reply ? 'tool_calls' : 'stop')
    res.end('data: [DONE]\n\n')
  }

  function hold (res: ServerResponse) {
    open.add(res)
    res.on('close', () => open.delete(res))
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const fake: FakeOpenAi = {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script (...replies) { queue.push(...replies) },
    otherwise: { status: 500, message: 'no scripted reply for this request' },
    held: () => open.size,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  t?.teardown(() => fake.close())
  return fake
}

function sendError (res: ServerResponse, status: number, message: string) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ error: { message, type: 'server_error', code: null } }))
}

/** `text` in `pieces` parts of about equal length (fewer when it is short). */
function split (text: string, pieces: number): string[] {
  if (!text) return []
  const size = Math.ceil(text.length / pieces)
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}
