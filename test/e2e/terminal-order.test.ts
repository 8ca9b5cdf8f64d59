import t from 'tap'
import { auth } from '../helpers/app.js'
import { connected, listen, SLOW_AGENTS } from '../helpers/ws.js'

t.test('a client that sees the terminal event finds the run finished and its thread free', async (t) => {
  const { app, wsUrl } = await listen(t, { AGENT_MODULES: SLOW_AGENTS })
  const ws = await connected(t, wsUrl, auth('alice'))
  let threadId: string | undefined
  for (let i = 0; i < 5; i++) {
    const from = ws.frames.length
    ws.send({ type: 'message', content: `run ${i}`, agent: 'slow', input: { steps: 1, ms: 5 }, ...(threadId ? { thread_id: threadId } : {}) })
    const accepted = await ws.waitFor((f) => f.type === 'message_accepted', `message ${i} accepted`, { from })
    threadId = accepted.data.thread_id as string
    const runId = accepted.data.run_id as string
    const end = await ws.runEnd(runId)
    t.equal(end.at(-1)!.type, 'run_completed')
    // no polling: the very next requests see the end
    const run = await app.inject({ url: `/runs/${runId}`, headers: auth('alice') })
    t.equal(run.json().status, 'completed', `run ${i} is completed as soon as run_completed arrives`)
    const thread = await app.inject({ url: `/threads/${threadId}`, headers: auth('alice') })
    t.equal(thread.json().active_run_id, null, `thread is free after run ${i}`)
  }
})
