import { duration, h, json, type Child } from '../dom.js'
import { describeError } from '../state/connection.js'
import { isFinished, openInterrupts, runStats, type AgentNode, type PageEvent, type RunView, type Step, type ToolCall } from '../state/run-view.js'
import { renderInterruptCard, renderInterruptStep, type InterruptActions } from './interrupt.js'
import { renderMarkdown } from './markdown.js'

/** What the run card can do; the page wires these to the client. */
export interface RunActions extends InterruptActions {
  cancel (view: RunView): void
  retry (view: RunView): void
  copy (view: RunView): void
}

/** Which collapsibles the reader opened or closed, by key, so a re-render keeps them as they were. */
export const toggled = new Map<string, boolean>()

/** Renderers of event types the page shows specially (new types slot in here, e.g. an approval card). */
const eventRenderers: Record<string, (event: PageEvent, view: RunView) => Node> = {}
export function renderEventAs (type: string, render: (event: PageEvent, view: RunView) => Node): void {
  eventRenderers[type] = render
}

const STATUS_WORDS: Record<string, string> = {
  queued: 'Queued',
  running: 'Running',
  waiting: 'Waiting for you',
  completed: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
  success: 'OK',
  error: 'Error',
  timeout: 'Timed out',
  retrying: 'Retrying'
}

function collapsible (key: string, defaultOpen: boolean, cls: string, summary: Child[], body: Child[], status?: string) {
  const open = toggled.get(key) ?? defaultOpen
  const el = h('details', { class: cls, open, 'data-status': status }, h('summary', { 'data-key': key }, ...summary), ...body)
  // a details made open fires a toggle too: only the reader's changes are remembered
  el.addEventListener('toggle', () => { if (el.open !== open) toggled.set(key, el.open) })
  return el
}

function badge (status: string) {
  return h('span', { class: 'badge', 'data-status': status }, STATUS_WORDS[status] ?? status)
}

function renderTool (tool: ToolCall) {
  const key = `tool:${tool.tool_call_id}`
  const summary = [
    h('span', { class: 'icon', 'aria-hidden': 'true' }, '⚙'),
    h('code', { class: 'tool-name' }, tool.tool_name),
    badge(tool.status),
    tool.duration_ms !== undefined && h('span', { class: 'muted' }, duration(tool.duration_ms)),
    tool.status === 'running' && tool.progress && h('span', { class: 'muted' }, tool.progress.message),
    tool.status === 'running' && tool.progress?.fraction !== undefined &&
      h('progress', { max: 1, value: tool.progress.fraction, 'aria-label': `${tool.tool_name} progress` })
  ]
  const body = [
    h('div', { class: 'kv' },
      h('h4', {}, 'Parameters'), h('pre', { class: 'code' }, json(tool.parameters)),
      tool.progress_log.length > 0 && [h('h4', {}, 'Progress'), h('ol', { class: 'progress-log' }, tool.progress_log.map((m) => h('li', {}, m)))],
      tool.status === 'success' && [h('h4', {}, 'Result'), h('pre', { class: 'code' }, json(tool.result))],
      tool.error && [h('h4', {}, 'Error'), h('p', { class: 'error' }, h('code', {}, tool.error.code), ' ', tool.error.message)],
      tool.status === 'running' && h('p', { class: 'muted' }, 'Running…'))
  ]
  return collapsible(key, false, 'tool', summary, body, tool.status)
}

function renderStep (view: RunView, step: Step): Node | undefined {
  switch (step.kind) {
    case 'thought': return h('li', { class: 'thought' }, step.text)
    case 'tool': return h('li', {}, renderTool(view.tools[step.tool_call_id]))
    case 'agent': return h('li', {}, renderAgent(view, view.agents[step.agent_id]))
    case 'interrupt': return h('li', {}, renderInterruptStep(view.interrupts[step.interrupt_id]))
    case 'attempt': return h('li', { class: 'attempt' }, `Attempt ${step.attempt}`)
    case 'attempt_failed': {
      const why = step.error.code === 'interrupted'
        ? 'Interrupted: the server running it was lost.'
        : `${step.error.code}: ${step.error.message}`
      return h('li', { class: 'attempt-failed' }, h('strong', {}, `Attempt ${step.attempt} failed. `), why, step.retryable ? ' It will be retried.' : '')
    }
    case 'event': {
      const render = eventRenderers[step.event.type]
      return h('li', { class: 'event' }, render ? render(step.event, view) : h('span', { class: 'muted' }, `${step.event.type} `, h('code', {}, json(step.event.data))))
    }
  }
}

function renderAgent (view: RunView, agent: AgentNode) {
  const key = `agent:${agent.agent_id}`
  const summary = [
    h('span', { class: 'icon', 'aria-hidden': 'true' }, '◆'),
    h('strong', { class: 'agent-name' }, agent.agent_name),
    agent.step_id && h('span', { class: 'muted' }, `step ${agent.step_id}`),
    agent.attempt > 1 && h('span', { class: 'muted' }, `attempt ${agent.attempt}`),
    badge(agent.status === 'completed' ? 'completed' : agent.status),
    agent.duration_ms !== undefined && h('span', { class: 'muted' }, duration(agent.duration_ms))
  ]
  const body = [
    h('p', { class: 'agent-message' }, agent.message),
    h('ul', { class: 'steps' }, agent.steps.map((s) => renderStep(view, s))),
    agent.status === 'failed' && agent.error && h('p', { class: 'error' }, h('code', {}, agent.error.code), ' ', agent.error.message)
  ]
  return collapsible(key, true, 'agent', summary, body, agent.status)
}

export function runHeadline (view: RunView): string {
  const s = runStats(view)
  const parts = [`${s.agents} agent${s.agents === 1 ? '' : 's'}`, `${s.tools} tool call${s.tools === 1 ? '' : 's'}`]
  if (s.failedTools) parts.push(`${s.failedTools} failed`)
  if (s.retries) parts.push(`${s.retries} retr${s.retries === 1 ? 'y' : 'ies'}`)
  if (view.started_at !== undefined && view.finished_at !== undefined) parts.push(duration((view.finished_at - view.started_at) * 1000))
  return parts.join(' · ')
}

/** The run's card: status, actions, the live tree of agents and tools, the answer or the failure. */
export function renderRun (view: RunView, actions: RunActions, agentName?: string): HTMLElement {
  const finished = isFinished(view)
  const status = view.status
  const head = h('header', { class: 'run-head' },
    badge(status),
    status === 'queued' && view.queue_position !== undefined && h('span', { class: 'muted' }, `position ${view.queue_position}`),
    agentName && h('span', { class: 'muted' }, agentName),
    h('span', { class: 'muted run-stats' }, runHeadline(view)),
    h('span', { class: 'spacer' }),
    !finished && h('button', { type: 'button', class: 'secondary small', 'data-key': `cancel:${view.run_id}`, onclick: () => actions.cancel(view) }, 'Cancel'),
    finished && view.answer !== undefined && h('button', { type: 'button', class: 'secondary small', 'data-key': `copy:${view.run_id}`, onclick: () => actions.copy(view) }, 'Copy'),
    finished && h('button', { type: 'button', class: 'secondary small', 'data-key': `retry:${view.run_id}`, onclick: () => actions.retry(view) }, 'Retry'))
  const roots = view.roots.map((id) => h('li', {}, renderAgent(view, view.agents[id])))
  const loose = view.other.map((e) => renderStep(view, { kind: 'event', event: e }))
  const trace = collapsible(`trace:${view.run_id}`, !finished, 'trace',
    [h('span', {}, finished ? 'Steps' : 'Working…'), h('span', { class: 'muted' }, ` ${view.lastSeq} events`)],
    [h('ul', { class: 'tree' }, roots, loose)])
  const cards = !finished && openInterrupts(view).map((i) => renderInterruptCard(view, i, actions))
  const answered = Object.values(view.interrupts).filter((i) => i.received).sort((a, b) => a.seq - b.seq)
  const decisions = answered.length > 0 && h('ul', { class: 'decisions', 'aria-label': 'What you were asked' }, answered.map((i) => h('li', {}, renderInterruptStep(i, true))))
  const answer = view.answer !== undefined && h('div', { class: 'answer markdown', 'data-answer': view.run_id }, renderMarkdown(view.answer))
  const failure = status === 'failed' && view.error && h('p', { class: 'run-error', role: 'alert' },
    h('strong', {}, 'The run failed. '), view.error.code === 'interrupted' ? 'The server running it was lost and it could not be resumed safely. ' : '', describeError(view.error), ' ', h('code', {}, view.error.code))
  const cancelled = status === 'cancelled' && h('p', { class: 'run-note' }, `Cancelled (${view.cancel_reason ?? 'by request'}).`)
  return h('article', { class: 'run', 'data-run': view.run_id, 'data-status': status, 'aria-busy': finished || view.status === 'waiting' ? 'false' : 'true' }, head, cards, decisions, trace, answer, failure, cancelled)
}
