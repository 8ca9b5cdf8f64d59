import { AgentwireClient, type ConnectionStatus } from '@agentwire/client'
import { $, h, replaceKeepingFocus } from './dom.js'
import { bannerFor, describeError, diagnose, shouldProbe, type ErrorLike, type Status } from './state/connection.js'
import { isFinished, newRun, openInterrupts, type PageEvent, type RunView } from './state/run-view.js'
import { fieldsOf, inputFrom, type Field } from './state/schema-input.js'
import { followRun, loadThread, unfinished, type RunFollower, type ThreadSource, type Turn } from './state/thread.js'
import { fieldControls, fieldValues } from './view/fields.js'
import { renderRun, type RunActions } from './view/run.js'
import { UsageCard } from './view/usage.js'
import './style.css'

// per tab: a reload stays signed in, closing the tab forgets the token
const TOKEN_KEY = 'agentwire.token'
const BASE = new URL('.', location.href).href

interface AgentInfo { name: string, description: string, input_schema?: unknown }
interface ThreadInfo { thread_id: string, title: string, updated_at: string, active_run_id: string | null }

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? undefined as string | undefined,
  userId: '',
  client: undefined as AgentwireClient | undefined,
  threadId: undefined as string | undefined,
  turns: [] as Turn[],
  /** aborts the live follows of the thread on screen */
  follows: new AbortController(),
  threads: [] as ThreadInfo[],
  nextCursor: null as string | null,
  agents: [] as AgentInfo[],
  fields: [] as Field[],
  /** why the socket cannot open, found by probing; shown until it connects */
  diagnosis: undefined as ErrorLike | undefined,
  probing: false
}

const client = () => state.client!
const source: ThreadSource = {
  threadMessages: (id) => client().http.threadMessages(id),
  runEvents: async (id, after) => await client().http.runEvents(id, after) as unknown as PageEvent[]
}
const follower: RunFollower = { run: async (id, opts) => await client().run(id, opts) as unknown as Awaited<ReturnType<RunFollower['run']>> }

function notice (text: string) {
  const el = $('notice')
  el.textContent = text
  el.hidden = !text
}

function subjectOf (token: string): string {
  try {
    const part = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')
    return String(JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '='))).sub ?? '')
  } catch {
    return ''
  }
}

// ---- signing in and out

async function isDevMode (): Promise<boolean> {
  // the dev-token route exists only in dev mode: an empty body gets 400 there and 404 elsewhere
  try {
    const res = await fetch('auth/dev-token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    return res.status === 400
  } catch {
    return false
  }
}

async function showSignIn (message = '') {
  $('app').hidden = true
  $('user').hidden = true
  $('sign-out').hidden = true
  $('threads-toggle').hidden = true
  $('signin').hidden = false
  $('signin-error').textContent = message
  const dev = await isDevMode()
  $('dev-form').hidden = !dev
  ;($('jwt-box') as HTMLDetailsElement).open = !dev
  ;(dev ? $('user-id') : $('jwt')).focus()
}

function signOut (message: string) {
  state.follows.abort()
  state.client?.close()
  state.client = undefined
  state.token = undefined
  state.threadId = undefined
  state.turns = []
  sessionStorage.removeItem(TOKEN_KEY)
  $('turns').replaceChildren()
  history.replaceState(null, '', location.pathname)
  setBanner({ state: 'offline', text: 'Not connected' })
  showSignIn(message)
}

function signIn (token: string) {
  state.token = token
  state.userId = subjectOf(token)
  sessionStorage.setItem(TOKEN_KEY, token)
  $('signin').hidden = true
  $('app').hidden = false
  $('user').hidden = false
  $('sign-out').hidden = false
  $('threads-toggle').hidden = false
  $('user-name').textContent = state.userId
  state.client = new AgentwireClient({ url: BASE, token, reconnect: { initialDelayMs: 250, maxDelayMs: 4000 }, onStatus: onConnection })
  connectFirst(state.client, 1)
  start()
}

async function start () {
  try {
    await Promise.all([loadAgents(), loadThreads(), usage.refresh()])
  } catch (err) {
    return failed(err)
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get('thread')
  if (wanted) await openThread(wanted)
  else newThread()
  $('message').focus()
}

/** An API failure: a refused token signs out with the reason, anything else is a notice. */
function failed (err: unknown) {
  const e = err as ErrorLike
  if (e.code === 'unauthorized') return signOut(describeError(e))
  notice(describeError(e))
}

$('dev-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  try {
    const res = await fetch('auth/dev-token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: ($('user-id') as HTMLInputElement).value.trim() }) })
    const body = await res.json()
    if (!res.ok) throw body
    signIn(body.token)
  } catch (err) {
    $('signin-error').textContent = `Could not sign in: ${(err as Error).message}`
  }
})

$('jwt-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const box = $('jwt') as HTMLTextAreaElement
  signIn(box.value.trim().replace(/^Bearer\s+/i, ''))
  box.value = ''
})

$('sign-out').addEventListener('click', () => signOut(''))

// ---- the connection, visible wherever the reader is

function setBanner (b: { state: string, text: string }) {
  const el = $('connection')
  el.dataset.state = b.state
  el.textContent = b.text
  document.body.dataset.connection = b.state
}

function onConnection (status: ConnectionStatus) {
  const s = status as Status
  if (s.state === 'connected') state.diagnosis = undefined
  if (s.state === 'failed' && s.error.code === 'unauthorized') return signOut(describeError(s.error))
  const banner = state.diagnosis && s.state !== 'connected'
    ? { state: 'failed', text: describeError(state.diagnosis, location.origin) }
    : bannerFor(s, location.origin)
  setBanner(banner)
  if (shouldProbe(s) && !state.diagnosis) probe()
}

/**
 * The first connect: the client reconnects by itself only once it has connected or follows a run,
 * so until then the page retries, and asks the server why when the socket will not open.
 */
async function connectFirst (c: AgentwireClient, attempt: number) {
  try {
    await c.connect()
  } catch (err) {
    if (state.client !== c) return
    const e = err as ErrorLike
    if (e.code === 'unauthorized') return signOut(describeError(e))
    const delay = Math.min(8000, 500 * 2 ** (attempt - 1))
    onConnection({ state: 'reconnecting', attempt: Math.max(attempt, 2), delay_ms: delay, error: e } as ConnectionStatus)
    setTimeout(() => { if (state.client === c && !c.connected) connectFirst(c, attempt + 1) }, delay)
  }
}

/** Asks the server over HTTP why the socket will not open (a browser cannot read a refused upgrade). */
async function probe () {
  if (state.probing || !state.client) return
  state.probing = true
  try {
    const ticket = await client().http.wsTicket()
    const res = await fetch(`ws?ticket=${encodeURIComponent(ticket)}`)
    const body = await res.json().catch(() => undefined)
    const retry = res.headers.get('retry-after')
    state.diagnosis = diagnose(res.status, body, retry ? Number(retry) : undefined)
    if (state.diagnosis && !client().connected) setBanner({ state: 'failed', text: describeError(state.diagnosis, location.origin) })
  } catch (err) {
    if ((err as ErrorLike).code === 'unauthorized') return signOut(describeError(err as ErrorLike))
  } finally {
    state.probing = false
  }
}

// ---- agents and their input

async function loadAgents () {
  state.agents = await client().http.agents()
  const select = $('agent') as HTMLSelectElement
  select.replaceChildren(...state.agents.map((a) => h('option', { value: a.name }, a.name)))
  select.value = state.agents.some((a) => a.name === 'supervisor') ? 'supervisor' : state.agents[0]?.name ?? ''
  agentChanged()
}

function agentChanged () {
  const agent = state.agents.find((a) => a.name === ($('agent') as HTMLSelectElement).value)
  $('agent-description').textContent = agent?.description ?? ''
  state.fields = fieldsOf(agent?.input_schema)
  $('agent-input').hidden = state.fields.length === 0
  $('agent-fields').replaceChildren(...fieldControls(state.fields, 'field'))
}
$('agent').addEventListener('change', agentChanged)

function agentInput (): Record<string, unknown> | undefined {
  return inputFrom(state.fields, fieldValues(state.fields, 'field'))
}

// ---- threads

async function loadThreads (more = false) {
  const page = await client().http.listThreads({ limit: 30, ...(more && state.nextCursor ? { cursor: state.nextCursor } : {}) })
  state.threads = more ? [...state.threads, ...page.threads] : page.threads
  state.nextCursor = page.next_cursor
  renderThreads()
}

function renderThreads () {
  replaceKeepingFocus($('threads'), ...state.threads.map((t) => {
    const title = t.title || 'Untitled'
    const current = t.thread_id === state.threadId
    return h('li', { class: 'thread', 'aria-current': current ? 'true' : undefined },
      h('button', { type: 'button', class: 'thread-open', 'data-key': `open:${t.thread_id}`, onclick: () => { closeSidebar(); openThread(t.thread_id) } },
        h('span', { class: 'thread-title' }, title),
        h('span', { class: 'muted thread-time' }, t.active_run_id ? 'running' : new Date(t.updated_at).toLocaleString())),
      h('span', { class: 'thread-actions' },
        h('button', { type: 'button', class: 'icon-button', 'data-key': `rename:${t.thread_id}`, 'aria-label': `Rename “${title}”`, onclick: () => rename(t.thread_id, title) }, '✎'),
        h('button', { type: 'button', class: 'icon-button', 'data-key': `delete:${t.thread_id}`, 'aria-label': `Delete “${title}”`, onclick: () => remove(t.thread_id, title) }, '×')))
  }))
  $('more-threads').hidden = !state.nextCursor
}

/** The title is the server's (PATCH /threads/:id): every browser and a reload see it. */
async function rename (threadId: string, title: string) {
  const next = window.prompt('Rename the conversation', title)?.replace(/\s+/g, ' ').trim()
  if (!next || next === title) return
  try {
    const renamed = await client().http.renameThread(threadId, Array.from(next).slice(0, 200).join(''))
    state.threads = state.threads.map((t) => t.thread_id === threadId ? renamed : t)
    renderThreads()
    notice('')
  } catch (err) {
    failed(err)
  }
}

/** Deletes the thread on the server, with its runs and their events; one still answering is refused in words. */
async function remove (threadId: string, title: string) {
  if (!window.confirm(`Delete “${title}” and its answers for good?`)) return
  try {
    await client().http.deleteThread(threadId)
  } catch (err) {
    return failed(err)
  }
  state.threads = state.threads.filter((t) => t.thread_id !== threadId)
  if (threadId === state.threadId) newThread()
  renderThreads()
  notice(`Deleted “${title}”.`)
  $('new-thread').focus()
}

function newThread () {
  state.follows.abort()
  state.follows = new AbortController()
  state.threadId = undefined
  state.turns = []
  turnEls.clear()
  $('turns').replaceChildren()
  $('empty').hidden = false
  history.replaceState(null, '', location.pathname)
  renderThreads()
}

async function openThread (threadId: string) {
  newThread()
  state.threadId = threadId
  history.replaceState(null, '', `#thread=${encodeURIComponent(threadId)}`)
  renderThreads()
  const signal = state.follows.signal
  let turns: Turn[]
  try {
    turns = await loadThread(source, threadId)
  } catch (err) {
    return failed(err)
  }
  if (signal.aborted) return
  state.turns = turns
  $('empty').hidden = turns.length > 0
  for (const turn of turns) renderTurn(turn)
  turnEls.get(turns.at(-1)?.run.run_id ?? '')?.scrollIntoView({ block: 'start' })
  for (const turn of unfinished(turns)) follow(turn, signal)
}

$('new-thread').addEventListener('click', () => { closeSidebar(); newThread(); $('message').focus() })
$('more-threads').addEventListener('click', () => { loadThreads(true).catch(failed) })

function closeSidebar () {
  document.body.classList.remove('sidebar-open')
  $('threads-toggle').setAttribute('aria-expanded', 'false')
}
$('threads-toggle').addEventListener('click', () => {
  const open = document.body.classList.toggle('sidebar-open')
  $('threads-toggle').setAttribute('aria-expanded', String(open))
  if (open) $('new-thread').focus()
})

// ---- turns and runs

const turnEls = new Map<string, HTMLLIElement>()
const dirty = new Set<Turn>()
let frame = 0

const actions: RunActions = {
  cancel (view) {
    client().cancel(view.run_id).catch(failed)
  },
  async retry (view) {
    const turn = state.turns.find((t) => t.run === view)
    if (!turn) return
    let agent = turn.agent
    try {
      agent ??= (await client().http.getRun(view.run_id)).agent
    } catch {}
    await send(turn.content, agent, turn.input)
  },
  async respond (view, interrupt, answer) {
    await client().resume(view.run_id, { interrupt_id: interrupt.interrupt_id, ...answer })
  },
  refresh (view) {
    const turn = state.turns.find((t) => t.run === view)
    if (turn) changed(turn)
  },
  copy (view) {
    navigator.clipboard.writeText(view.answer ?? '').then(() => notice('Copied the answer.'), () => notice('Could not copy: select the text instead.'))
  }
}

function renderTurn (turn: Turn) {
  let li = turnEls.get(turn.run.run_id)
  if (!li) {
    li = h('li', { class: 'turn' }, h('div', { class: 'question' }, h('p', {}, turn.content)), h('div', { class: 'run-slot' }))
    turnEls.set(turn.run.run_id, li)
    $('turns').append(li)
  }
  const focused = (document.activeElement as HTMLElement | null)?.dataset.key
  replaceKeepingFocus(li.querySelector('.run-slot')!, renderRun(turn.run, actions, turn.agent))
  // an answered card is gone: the reader lands on the decision it recorded
  const interrupt = /^interrupt:([^:]+):/.exec(focused ?? '')?.[1]
  if (interrupt && !document.activeElement?.closest('.run-slot')) {
    li.querySelector<HTMLElement>(`[data-key="${CSS.escape(`received:${interrupt}`)}"]`)?.focus({ preventScroll: true })
  }
  li.querySelector<HTMLElement>('[data-autofocus]')?.focus({ preventScroll: true })
  for (const i of openInterrupts(turn.run)) {
    if (announced.has(i.interrupt_id)) continue
    announced.add(i.interrupt_id)
    $('announce').textContent = i.kind === 'approval' ? `${i.agent_name} waits for your approval of ${i.tool_name ?? 'a call'}.` : `${i.agent_name} asks: ${i.question ?? ''}`
  }
}
const announced = new Set<string>()

/** Re-renders changed turns once per frame; a new answer's start is brought into view if the reader was following. */
function changed (turn: Turn) {
  dirty.add(turn)
  if (frame) return
  frame = requestAnimationFrame(() => {
    frame = 0
    const atEnd = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120
    for (const t of dirty) {
      const hadAnswer = turnEls.get(t.run.run_id)?.querySelector('.answer') !== null
      const hadCard = turnEls.get(t.run.run_id)?.querySelector('.interrupt-card') !== null
      renderTurn(t)
      const answer = turnEls.get(t.run.run_id)?.querySelector('.answer')
      if (!hadAnswer && answer && atEnd && t === state.turns.at(-1)) answer.scrollIntoView({ block: 'start', behavior: 'smooth' })
      const card = turnEls.get(t.run.run_id)?.querySelector('.interrupt-card')
      if (!hadCard && card && atEnd) card.scrollIntoView({ block: 'start', behavior: 'smooth' })
    }
    dirty.clear()
    if (state.turns.some((t) => isFinished(t.run))) refreshThreadsQuietly()
  })
}

let refreshing = false
async function refreshThreadsQuietly () {
  if (refreshing) return
  refreshing = true
  try { await loadThreads() } catch {} finally { refreshing = false }
}

function follow (turn: Turn, signal: AbortSignal) {
  followRun(follower, source, turn.run, () => changed(turn), signal).catch((err) => {
    if (signal.aborted || (err as ErrorLike).code === 'closed') return
    failed(err)
  })
}

async function send (content: string, agent?: string, input?: Record<string, unknown>) {
  notice('')
  let accepted
  try {
    accepted = await client().http.postMessage({ content, ...(state.threadId && { thread_id: state.threadId }), ...(agent && { agent }), ...(input && { input }) })
  } catch (err) {
    failed(err)
    return false
  }
  if (state.threadId !== accepted.thread_id) {
    state.threadId = accepted.thread_id
    history.replaceState(null, '', `#thread=${encodeURIComponent(accepted.thread_id)}`)
  }
  const view: RunView = newRun(accepted.run_id, accepted.thread_id)
  if (accepted.status === 'queued') view.status = 'queued'
  const turn: Turn = { message_id: accepted.message_id, content, created_at: new Date().toISOString(), run: view, ...(agent && { agent }), ...(input && { input }) }
  state.turns.push(turn)
  $('empty').hidden = true
  renderTurn(turn)
  turnEls.get(view.run_id)!.scrollIntoView({ block: 'start' })
  follow(turn, state.follows.signal)
  refreshThreadsQuietly()
  return true
}

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault()
  const box = $('message') as HTMLTextAreaElement
  const content = box.value.trim()
  if (!content) return
  const agent = ($('agent') as HTMLSelectElement).value || undefined
  if (await send(content, agent, agentInput())) box.value = ''
})

$('message').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    ;($('composer') as HTMLFormElement).requestSubmit()
  }
})

for (const button of document.querySelectorAll<HTMLButtonElement>('.suggestion')) {
  button.addEventListener('click', () => {
    ;($('message') as HTMLTextAreaElement).value = button.textContent ?? ''
    ;($('composer') as HTMLFormElement).requestSubmit()
  })
}

const usage = new UsageCard($('data-card') as HTMLDetailsElement, client, () => state.token ?? '')

if (state.token) signIn(state.token)
else showSignIn()
