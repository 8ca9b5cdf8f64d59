import t from 'tap'
import { AgentwireError } from '../../client/src/index.js'
import { tokenFor } from '../helpers/app.js'
import { listen } from '../helpers/ws.js'
import { makeClient } from './helpers.js'

const HITL = './test/fixtures/hitl-agents.mjs'

async function rejection (p: Promise<unknown>): Promise<AgentwireError> {
  try {
    await p
  } catch (err) {
    if (err instanceof AgentwireError) return err
    throw err
  }
  throw new Error('expected a rejection')
}

t.test('threads: rename and delete through client.http, with the contract\'s errors typed', async (t) => {
  const server = await listen(t, { AGENT_MODULES: HITL })
  const { client } = makeClient(t, { url: server.url, token: tokenFor('renamer') })
  const run = await client.send('pay bob', { agent: 'payer', input: { args: { to: 'bob', amount: 500 } } })
  for await (const e of run.events()) if (e.type === 'input_requested') break

  const renamed = await client.http.renameThread(run.thread_id, '  Pay  bob ')
  t.strictSame(renamed, { ...await client.http.getThread(run.thread_id), title: 'Pay bob' })
  const bad = await rejection(client.http.renameThread(run.thread_id, ' '))
  t.strictSame([bad.code, bad.status], ['invalid_request', 400])

  const busy = await rejection(client.http.deleteThread(run.thread_id))
  t.strictSame([busy.code, busy.status], ['thread_busy', 409], 'a thread whose run waits cannot be deleted')
  await run.cancel()
  await run.end()
  t.equal(await client.http.deleteThread(run.thread_id), undefined)
  const gone = await rejection(client.http.getThread(run.thread_id))
  t.strictSame([gone.code, gone.status], ['not_found', 404])
  t.equal((await rejection(client.http.deleteThread(run.thread_id))).code, 'not_found')
  t.equal((await rejection(client.http.renameThread(run.thread_id, 'late'))).code, 'not_found')
})
