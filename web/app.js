import { renderMarkdown } from './markdown.js'

// per tab: a reload stays signed in, closing the tab forgets the token
const TOKEN_KEY = 'agentwire.token'
const TERMINAL = new Set(['run_completed', 'run_failed', 'run_cancelled'])

const $ = (id) => document.getElementById(id)

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  socket: null,
  retries: 0,
  reconnectTimer: undefined,
  threadId: undefined,
  frames: 0,
  /** run_id → run view */
  runs: new Map(),
  /** frame id → { kind, run } of a sent message, cancel or subscribe, until the server answers it */
  awaiting: new Map()
}

/** An element; strings become text nodes, never markup. */
function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) el.setAttribute(name, value === true ? '' : String(value))
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false))
  return el
}

// paths are relative to the page, so it also works behind a reverse proxy's path prefix
async function api (method, path, body) {
  const headers = {}
  if (state.token) headers.authorization = `Bearer ${state.token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const json = await res.json().catch(() => ({}))
  if (!res.ok) throw Object.assign(new Error(json.message || `${res.status} ${res.statusText}`), { status: res.status, code: json.code })
  return json
}

function showNotice (text) {
  const notice = $('notice')
  notice.textContent = text
  notice.hidden = !text
}

// ---- signing in

async function isDevMode () {
  // the dev-token route exists only in dev mode: an empty body gets 400 there and 404 elsewhere
  try {
    const res = await fetch('auth/dev-token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    return res.status === 400
  } catch {
    return false
  }
}

async function showSignIn (message = '') {
  $('workspace').hidden = true
  $('signin').hidden = false
  $('signin-error').textContent = message
  const dev = await isDevMode()
  $('dev-form').hidden = !dev
  $('jwt-box').open = !dev
  ;(dev ? $('user-id') : $('jwt')).focus()
}

function signIn (token) {
  state.token = token
  sessionStorage.setItem(TOKEN_KEY, token)
  $('signin').hidden = true
  $('workspace').hidden = false
  $('user-name').textContent = '…'
  connect()
  $('message').focus()
}

function signOut (message) {
  const socket = state.socket
  state.socket = null
  socket?.close(1000)
  clearTimeout(state.reconnectTimer)
  state.token = null
  state.threadId = undefined
  state.runs.clear()
  state.awaiting.clear()
  sessionStorage.removeItem(TOKEN_KEY)
  $('runs').replaceChildren()
  $('empty').hidden = false
  $('sample-status').textContent = ''
  showNotice('')
  showSignIn(message)
}

$('dev-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  try {
    const { token } = await api('POST', 'auth/dev-token', { user_id: $('user-id').value.trim() })
    signIn(token)
  } catch (err) {
    $('signin-error').textContent = `Could not sign in: ${err.message}`
  }
})

$('jwt-form').addEventListener('submit', (event) => {
  event.preventDefault()
  signIn($('jwt').value.trim().replace(/^Bearer\s+/i, ''))
  $('jwt').value = ''
})

$('sign-out').addEventListener('click', () => signOut(''))

// ---- the socket

function setConnection (name, text) {
  const el = $('connection')
  el.dataset.state = name
  el.textContent = text
  $('send').disabled = name !== 'online'
}

async function connect () {
  clearTimeout(state.reconnectTimer)
  setConnection('connecting', 'Connecting…')
  let ticket
  try {
    ({ ticket } = await api('POST', 'ws-tickets'))
  } catch (err) {
    if (err.status === 401) return signOut(`The server refused the token: ${err.message}. Sign in again.`)
    return scheduleReconnect()
  }
  if (!state.token) return
  const url = new URL('ws', location.href)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  url.search = `?ticket=${encodeURIComponent(ticket)}`
  const socket = new WebSocket(url)
  state.socket = socket
  socket.addEventListener('message', (event) => {
    if (state.socket !== socket) return
    let frame
    try { frame = JSON.parse(event.data) } catch { return }
    onFrame(frame)
  })
  socket.addEventListener('close', (event) => {
    if (state.socket !== socket) return
    state.socket = null
    for (const { kind, run } of state.awaiting.values()) {
      if (kind === 'message') unconfirmed(run)
      if (kind === 'cancel') resetCancel(run)
    }
    state.awaiting.clear()
    if (event.code === 1008) return signOut(event.reason === 'token_expired' ? 'Your session expired; sign in again.' : 'The server closed the connection; sign in again.')
    scheduleReconnect()
  })
}

function scheduleReconnect () {
  const delay = Math.min(15000, 500 * 2 ** state.retries++) + Math.random() * 250
  setConnection('offline', `Disconnected. Reconnecting in ${Math.ceil(delay / 1000)} s…`)
  state.reconnectTimer = setTimeout(connect, delay)
}

/** Remembers what a sent frame was for, until its answer (`reply_to`) comes. */
function expect (kind, run, id) {
  if (id) state.awaiting.set(id, { kind, run })
  return id
}

function answered (frame) {
  const entry = state.awaiting.get(frame.reply_to) ?? {}
  state.awaiting.delete(frame.reply_to)
  return entry
}

function send (frame) {
  if (state.socket?.readyState !== WebSocket.OPEN) {
    showNotice('Not connected right now; try again in a moment.')
    return undefined
  }
  const id = `f${++state.frames}`
  state.socket.send(JSON.stringify({ ...frame, id }))
  return id
}

function onFrame (frame) {
  switch (frame.type) {
    case 'connection_established':
      state.retries = 0
      $('user-name').textContent = frame.data.user_id
      setConnection('online', 'Connected')
      // resume every unfinished run after the last event seen: nothing missed, nothing twice
      for (const run of state.runs.values()) {
        if (!run.done) expect('subscribe', run, send({ type: 'subscribe', run_id: run.id, after_seq: run.lastSeq }))
      }
      return
    case 'message_accepted': {
      const { run } = answered(frame)
      state.threadId = frame.data.thread_id
      if (run) adopt(run, frame.data.run_id)
      return
    }
    case 'subscribed':
    case 'cancel_accepted':
      answered(frame)
      return
    case 'error': {
      const { kind, run } = answered(frame)
      if (kind === 'message') return refused(run, frame.data)
      if (kind === 'cancel') resetCancel(run)
      if (kind === 'subscribe' && frame.data.code === 'not_found') return lost(run)
      showNotice(`${frame.data.message} (${frame.data.code})`)
      return
    }
    default:
      if (typeof frame.seq === 'number' && frame.run_id) onEvent(frame)
  }
}

// ---- runs

function ask (content) {
  const run = newRun(content)
  const id = expect('message', run, send({ type: 'message', content, multitask: 'enqueue', ...(state.threadId && { thread_id: state.threadId }) }))
  if (!id) refused(run, { code: 'offline', message: 'Not sent: not connected.' })
  return Boolean(id)
}

function newRun (question) {
  const view = {
    status: h('span', { class: 'badge' }, 'sending'),
    timing: h('span', { class: 'timing' }),
    cancel: h('button', { type: 'button', class: 'secondary small', hidden: true }, 'Cancel'),
    summary: h('span', { class: 'count' }, 'waiting for the server'),
    agents: h('ul', { class: 'agents' }),
    notes: h('ul', { class: 'notes' }),
    answer: h('div', { class: 'answer' })
  }
  view.timeline = h('details', { class: 'timeline', open: true }, h('summary', {}, 'Steps ', view.summary), view.notes, view.agents)
  view.root = h('li', { class: 'run', 'data-status': 'sending' },
    h('article', {},
      h('header', { class: 'run-head' },
        h('h3', { class: 'question' }, h('span', { class: 'visually-hidden' }, 'You asked: '), question),
        h('p', { class: 'run-meta' }, view.status, view.timing, view.cancel)),
      view.timeline,
      view.answer))
  const run = { id: undefined, lastSeq: 0, done: false, events: 0, agents: new Map(), tools: new Map(), started: undefined, view }
  view.cancel.addEventListener('click', () => {
    if (!expect('cancel', run, send({ type: 'cancel', run_id: run.id }))) return
    view.cancel.disabled = true
    view.cancel.textContent = 'Cancelling…'
  })
  $('empty').hidden = true
  stickToBottom(() => $('runs').append(view.root))
  return run
}

function adopt (run, runId) {
  run.id = runId
  state.runs.set(runId, run)
  run.view.cancel.hidden = false
  setStatus(run, 'running', 'running')
  run.view.summary.textContent = 'starting'
}

function unconfirmed (run) {
  setStatus(run, 'failed', 'unconfirmed')
  run.view.answer.replaceChildren(h('p', { class: 'error' }, 'The connection dropped before the server confirmed this question. It may still be answered in this thread; ask again if not.'))
}

function resetCancel (run) {
  run.view.cancel.disabled = false
  run.view.cancel.textContent = 'Cancel'
}

function lost (run) {
  run.done = true
  run.view.cancel.hidden = true
  setStatus(run, 'failed', 'unavailable')
  run.view.answer.replaceChildren(h('p', { class: 'error' }, 'This run is no longer available.'))
}

function refused (run, error) {
  setStatus(run, 'failed', 'not sent')
  run.view.timeline.hidden = true
  run.view.answer.replaceChildren(h('p', { class: 'error' }, `${error.message} (${error.code})`))
}

function setStatus (run, status, label) {
  run.view.root.dataset.status = status
  run.view.status.textContent = label
}

function onEvent (event) {
  let run = state.runs.get(event.run_id)
  if (!run) {
    run = newRun('(a run of this thread)')
    adopt(run, event.run_id)
  }
  if (event.seq <= run.lastSeq) return
  run.lastSeq = event.seq
  run.events++
  stickToBottom(() => apply(run, event))
}

function apply (run, { type, data }) {
  run.started ??= data.timestamp
  switch (type) {
    case 'run_queued':
      setStatus(run, 'queued', 'queued')
      note(run, `Queued (position ${data.position}): it starts when the runs ahead of it finish.`)
      break
    case 'agent_started':
      if (run.view.root.dataset.status === 'queued') setStatus(run, 'running', 'running')
      agentStarted(run, data)
      break
    case 'agent_thinking':
      step(run, data, h('li', { class: 'thought' }, h('span', { class: 'visually-hidden' }, 'Thinking: '), data.thought))
      break
    case 'tool_executing':
      toolStarted(run, data)
      break
    case 'tool_progress': {
      const tool = run.tools.get(data.tool_call_id)
      if (!tool) break
      tool.message.textContent = data.message
      if (typeof data.progress === 'number') {
        tool.progress.hidden = false
        tool.progress.value = data.progress
      }
      break
    }
    case 'tool_completed': {
      const tool = run.tools.get(data.tool_call_id)
      if (!tool) break
      tool.root.dataset.status = data.status
      tool.status.textContent = data.status
      tool.duration.textContent = duration(data.duration_ms)
      tool.progress.hidden = true
      tool.message.textContent = data.error ? `${data.error.message} (${data.error.code})` : ''
      break
    }
    case 'agent_completed': {
      const agent = run.agents.get(data.agent_id)
      if (!agent) break
      agent.root.dataset.status = 'completed'
      agent.status.textContent = 'done'
      agent.duration.textContent = duration(data.duration_ms)
      break
    }
    case 'agent_error': {
      const agent = run.agents.get(data.agent_id)
      if (!agent) break
      agent.root.dataset.status = 'failed'
      // a retry, if any, comes as the next agent_started of this agent
      agent.status.textContent = 'error'
      step(run, data, h('li', { class: 'failure' }, `Attempt ${data.attempt} failed: ${data.error.message} (${data.error.code})`))
      break
    }
    default:
      if (TERMINAL.has(type)) finish(run, type, data)
  }
  const agents = run.agents.size
  run.view.summary.textContent = `${run.events} event${run.events === 1 ? '' : 's'} · ${agents} agent${agents === 1 ? '' : 's'}`
}

function agentStarted (run, data) {
  const known = run.agents.get(data.agent_id)
  if (known) {
    // a retry: the same agent, its next attempt
    known.root.dataset.status = 'running'
    known.status.textContent = `attempt ${data.attempt}`
    known.duration.textContent = ''
    step(run, data, h('li', { class: 'attempt' }, `Attempt ${data.attempt}: ${data.message}`))
    return
  }
  const agent = {
    status: h('span', { class: 'badge' }, 'running'),
    duration: h('span', { class: 'duration' }),
    steps: h('ol', { class: 'steps' })
  }
  agent.root = h('li', { class: 'agent', 'data-status': 'running' },
    h('div', { class: 'agent-head' },
      h('strong', { class: 'agent-name' }, data.agent_name), h('span', { class: 'state' }, agent.status, agent.duration),
      h('span', { class: 'agent-message' }, data.message)),
    agent.steps)
  // a sub-agent is a step of its parent, in the order it started among the parent's thoughts and tools
  const parent = data.parent_agent_id && run.agents.get(data.parent_agent_id)
  run.agents.set(data.agent_id, agent)
  ;(parent ? parent.steps : run.view.agents).append(agent.root)
}

function toolStarted (run, data) {
  const tool = {
    status: h('span', { class: 'badge' }, 'running'),
    duration: h('span', { class: 'duration' }),
    message: h('span', { class: 'tool-message' }),
    progress: h('progress', { max: 1, value: 0, hidden: true, 'aria-label': `${data.tool_name} progress` })
  }
  tool.root = h('li', { class: 'tool', 'data-status': 'running' },
    h('div', { class: 'tool-head' },
      h('code', { class: 'tool-name' }, data.tool_name),
      h('span', { class: 'params' }, params(data.parameters)),
      h('span', { class: 'state' }, tool.status, tool.duration)),
    h('div', { class: 'tool-detail' }, tool.message, tool.progress))
  run.tools.set(data.tool_call_id, tool)
  step(run, data, tool.root)
}

/** An agent's step, in its own list; an event of an unknown agent goes to the run's notes. */
function step (run, data, item) {
  const agent = run.agents.get(data.agent_id)
  ;(agent ? agent.steps : run.view.notes).append(item)
}

function note (run, text) {
  run.view.notes.append(h('li', {}, text))
}

function finish (run, type, data) {
  run.done = true
  run.view.cancel.hidden = true
  if (run.started !== undefined) run.view.timing.textContent = `in ${duration((data.timestamp - run.started) * 1000)}`
  if (type === 'run_completed') {
    setStatus(run, 'completed', 'answered')
    const answer = data.result?.answer
    if (typeof answer === 'string') {
      const body = h('div', { class: 'markdown' })
      // renderMarkdown escapes the answer before adding its own markup
      body.innerHTML = renderMarkdown(answer, { headingOffset: 1 })
      run.view.answer.replaceChildren(body)
    } else {
      run.view.answer.replaceChildren(h('pre', {}, JSON.stringify(data.result, null, 2)))
    }
    run.view.timeline.open = false
  } else if (type === 'run_failed') {
    setStatus(run, 'failed', 'failed')
    run.view.answer.replaceChildren(h('p', { class: 'error' }, `The run failed: ${data.error.message} (${data.error.code})`))
  } else {
    setStatus(run, 'cancelled', 'cancelled')
    run.view.answer.replaceChildren(h('p', { class: 'muted' }, `Cancelled: ${data.reason}`))
  }
}

function duration (ms) {
  if (!(ms >= 0)) return ''
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

/** Tool parameters in one short line: `group_by: model, top: 5`. */
function params (value) {
  if (!value || typeof value !== 'object') return ''
  const text = Object.entries(value).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')
  return text.length > 80 ? `${text.slice(0, 79)}…` : text
}

/** Keeps the newest step in view while the reader is at the bottom, and leaves them be otherwise. */
function stickToBottom (change) {
  const atBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120
  change()
  if (atBottom) window.scrollTo({ top: document.documentElement.scrollHeight })
}

// ---- the page's controls

$('composer').addEventListener('submit', (event) => {
  event.preventDefault()
  const content = $('message').value.trim()
  if (!content) return
  showNotice('')
  if (ask(content)) $('message').value = ''
})

$('message').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    $('composer').requestSubmit()
  }
})

for (const button of document.querySelectorAll('.suggestion')) {
  button.addEventListener('click', () => {
    $('message').value = button.textContent
    $('composer').requestSubmit()
  })
}

$('load-sample').addEventListener('click', async () => {
  const button = $('load-sample')
  const status = $('sample-status')
  button.disabled = true
  status.textContent = 'Loading…'
  try {
    const { inserted } = await api('POST', 'usage/sample', { profile: 'team' })
    status.textContent = `Loaded ${inserted.toLocaleString('en-US')} sample records (the team profile). Ask away.`
  } catch (err) {
    status.textContent = `Could not load the sample: ${err.message}`
    if (err.status === 401) signOut(`Signed out: ${err.message}.`)
  } finally {
    button.disabled = false
  }
})

$('upload-example').textContent = `curl -X POST ${new URL('usage', location.href)} -H "authorization: Bearer $TOKEN" \\\n  -H 'content-type: text/csv' --data-binary @usage.csv`

if (state.token) signIn(state.token)
else showSignIn()
