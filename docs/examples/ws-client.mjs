/**
 * A minimal WebSocket client that asks one question and prints every event of its run exactly
 * once, reconnecting and resuming with `after_seq` whenever the socket drops (docs/websocket.md).
 *
 *   AGENTWIRE_URL=http://127.0.0.1:3000 AGENTWIRE_TOKEN=… node docs/examples/ws-client.mjs "How can we cut our LLM costs?"
 *
 * Uses the `ws` package (Node 20 has no WebSocket client; Node 22+ and browsers do, with the
 * same frames: browsers pass `?ticket=` instead of the Authorization header).
 */
import WebSocket from 'ws'

const base = process.env.AGENTWIRE_URL ?? 'http://127.0.0.1:3000'
const token = process.env.AGENTWIRE_TOKEN
const content = process.argv[2] ?? 'How can we cut our LLM costs?'
const agent = process.env.AGENTWIRE_AGENT
/** for trying it out: drop the socket on purpose after this many events */
const dropAfter = Number(process.env.DROP_AFTER ?? 0)

let runId // set by message_accepted
let lastSeq = 0 // the highest seq printed: the resume point
let drops = 0

function connect () {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers: { authorization: `Bearer ${token}` } })
    let seen = 0
    let settled = false
    const finish = (fn, value) => { settled = true; ws.close(1000); fn(value) }
    ws.on('open', () => {
      if (!runId) ws.send(JSON.stringify({ type: 'message', id: 'ask', content, ...(agent && { agent }) }))
      else ws.send(JSON.stringify({ type: 'subscribe', id: 'resume', run_id: runId, after_seq: lastSeq }))
    })
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.type === 'message_accepted') runId = frame.data.run_id
      else if (frame.type === 'error') finish(reject, new Error(`${frame.data.code}: ${frame.data.message}`))
      else if (frame.seq !== undefined && frame.run_id === runId) {
        // the server never sends a duplicate; the check only makes the point that seq is the key
        if (frame.seq !== lastSeq + 1) throw new Error(`expected seq ${lastSeq + 1}, got ${frame.seq}`)
        lastSeq = frame.seq
        const d = frame.data
        console.log(String(frame.seq).padStart(3), frame.type.padEnd(16), d.agent_name ?? '', d.tool_name ?? d.thought ?? '')
        if (['run_completed', 'run_failed', 'run_cancelled'].includes(frame.type)) finish(resolve, frame)
        else if (dropAfter && ++seen === dropAfter && drops < 3) { drops++; ws.terminate() }
      }
    })
    ws.on('close', (code) => {
      if (settled) return
      // 1008 token_expired would need a new token first; everything else: reconnect and resume
      if (code === 1008) reject(new Error('token expired'))
      else setTimeout(() => connect().then(resolve, reject), 200)
    })
    ws.on('error', () => {}) // 'close' follows and reconnects
  })
}

const end = await connect()
console.log(`${end.type} after ${lastSeq} events and ${drops} reconnects`)
if (end.type === 'run_completed') console.log(String(end.data.result?.answer ?? JSON.stringify(end.data.result)).slice(0, 400))
process.exit(end.type === 'run_completed' ? 0 : 1)
