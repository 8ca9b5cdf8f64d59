import type { RunEvent } from '../wire.js'
import { ANSI, clean, PLAIN, visibleLength, type Style } from './markdown.js'

type Status = 'running' | 'done' | 'error' | 'timeout' | 'cancelled' | 'retrying'

interface ToolNode { kind: 'tool', id: string, name: string, status: Status, note?: string, progress?: number, ms?: number }
interface AgentNode {
  kind: 'agent'
  id: string
  name: string
  status: Status
  attempt: number
  message: string
  thought?: string
  note?: string
  ms?: number
  children: Array<AgentNode | ToolNode>
}

export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

const seconds = (ms: number) => ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
const oneLine = (s: string, max: number) => {
  const flat = s.replace(/\s+/g, ' ').trim()
  return [...flat].length > max ? [...flat].slice(0, max - 1).join('') + '…' : flat
}

/** The run as a tree of agents (sub-agents under their parent) and their tool calls. */
export class RunTree {
  private readonly agents = new Map<string, AgentNode>()
  private readonly tools = new Map<string, ToolNode>()
  private readonly roots: AgentNode[] = []
  /** agent id → depth, for plain lines */
  private readonly depth = new Map<string, number>()
  status = 'starting'

  add (event: RunEvent): void {
    switch (event.type) {
      case 'run_queued':
        this.status = `queued (position ${event.data.position})`
        return
      case 'agent_started': {
        const d = event.data
        this.status = 'running'
        const existing = this.agents.get(d.agent_id)
        if (existing) {
          Object.assign(existing, { status: 'running', attempt: d.attempt, message: d.message, note: undefined, thought: undefined })
          return
        }
        const node: AgentNode = { kind: 'agent', id: d.agent_id, name: d.agent_name, status: 'running', attempt: d.attempt, message: d.message, children: [] }
        this.agents.set(d.agent_id, node)
        const parent = d.parent_agent_id ? this.agents.get(d.parent_agent_id) : undefined
        this.depth.set(d.agent_id, parent ? (this.depth.get(parent.id) ?? 0) + 1 : 0)
        if (parent) parent.children.push(node)
        else this.roots.push(node)
        return
      }
      case 'agent_thinking': {
        const node = this.agents.get(event.data.agent_id)
        if (node) node.thought = event.data.thought
        return
      }
      case 'tool_executing': {
        const d = event.data
        const node: ToolNode = { kind: 'tool', id: d.tool_call_id, name: d.tool_name, status: 'running' }
        this.tools.set(d.tool_call_id, node)
        this.agents.get(d.agent_id)?.children.push(node)
        return
      }
      case 'tool_progress': {
        const node = this.tools.get(event.data.tool_call_id)
        if (node) Object.assign(node, { note: event.data.message, progress: event.data.progress })
        return
      }
      case 'tool_completed': {
        const d = event.data
        const node = this.tools.get(d.tool_call_id)
        if (!node) return
        node.status = d.status === 'success' ? 'done' : d.status
        node.ms = d.duration_ms
        node.progress = undefined
        node.note = d.error ? `${d.error.code}: ${d.error.message}` : undefined
        return
      }
      case 'agent_completed': {
        const node = this.agents.get(event.data.agent_id)
        if (node) Object.assign(node, { status: 'done', ms: event.data.duration_ms, thought: undefined })
        return
      }
      case 'agent_error': {
        const d = event.data
        const node = this.agents.get(d.agent_id)
        if (node) Object.assign(node, { status: d.retryable ? 'retrying' : 'error', note: `${d.error.code}: ${d.error.message}`, thought: undefined })
        return
      }
      case 'run_completed': this.status = 'completed'; return
      case 'run_failed': this.status = `failed (${event.data.error.code}: ${event.data.error.message})`; return
      case 'run_cancelled': this.status = `cancelled (${event.data.reason})`
    }
  }

  /** The tree as lines at most `width` wide; `frame` picks the spinner's picture. */
  lines (style: Style, width: number, frame: number): string[] {
    const out: string[] = []
    const icon = (s: Status) => {
      switch (s) {
        case 'running': return style.code(SPINNER[frame % SPINNER.length])
        case 'done': return '\x1b[32m✓\x1b[39m'
        case 'retrying': return '\x1b[33m↻\x1b[39m'
        default: return '\x1b[31m✗\x1b[39m'
      }
    }
    const walk = (node: AgentNode | ToolNode, indent: string) => {
      let text: string
      if (node.kind === 'agent') {
        const attempt = node.attempt > 1 ? ` (attempt ${node.attempt})` : ''
        const tail = node.status === 'running' ? style.dim(clean(node.thought ?? node.message)) : node.note ? style.dim(clean(node.note)) : node.ms !== undefined ? style.dim(seconds(node.ms)) : ''
        text = `${icon(node.status)} ${style.bold(clean(node.name))}${attempt} ${tail}`
      } else {
        const pct = node.progress !== undefined ? ` ${Math.round(node.progress * 100)}%` : ''
        const tail = node.status === 'running' ? style.dim(clean(`${node.note ?? ''}${pct}`)) : style.dim(clean([node.ms !== undefined ? seconds(node.ms) : '', node.note ?? ''].filter(Boolean).join(' ')))
        text = `${icon(node.status)} ${clean(node.name)} ${tail}`
      }
      out.push(fit(indent + text.trimEnd(), width))
      if (node.kind === 'agent') for (const child of node.children) walk(child, indent + '  ')
    }
    for (const root of this.roots) walk(root, '')
    return out.map((l) => style === PLAIN ? strip(l) : l)
  }

  /** One event as a plain line, indented by its agent's depth (for logs and pipes). */
  line (event: RunEvent): string {
    return clean(this.describe(event))
  }

  private describe (event: RunEvent): string {
    this.add(event)
    const d = event.data as { agent_id?: string }
    const pad = '  '.repeat(d.agent_id ? this.depth.get(d.agent_id) ?? 0 : 0)
    switch (event.type) {
      case 'run_queued': return `queued at position ${event.data.position}`
      case 'agent_started': return `${pad}▶ ${event.data.agent_name}${event.data.attempt > 1 ? ` (attempt ${event.data.attempt})` : ''}: ${event.data.message}`
      // agents run side by side: each line under an agent names it
      case 'agent_thinking': return `${pad}  ${event.data.agent_name} … ${oneLine(event.data.thought, 160)}`
      case 'tool_executing': return `${pad}  ${event.data.agent_name} → ${event.data.tool_name} ${oneLine(JSON.stringify(event.data.parameters) ?? '', 120)}`
      case 'tool_progress': return `${pad}  ${event.data.agent_name} · ${event.data.tool_name}: ${event.data.message}${event.data.progress !== undefined ? ` (${Math.round(event.data.progress * 100)}%)` : ''}`
      case 'tool_completed': {
        const e = event.data
        return `${pad}  ${e.agent_name} ${e.status === 'success' ? '✓' : '✗'} ${e.tool_name} ${e.status} in ${seconds(e.duration_ms)}${e.error ? `: ${e.error.code}: ${e.error.message}` : ''}`
      }
      case 'agent_completed': return `${pad}✓ ${event.data.agent_name} done in ${seconds(event.data.duration_ms)}`
      case 'agent_error': return `${pad}✗ ${event.data.agent_name} ${event.data.error.code}: ${event.data.error.message}${event.data.retryable ? ' (will retry)' : ''}`
      case 'run_completed': return 'run completed'
      case 'run_failed': return `run failed: ${event.data.error.code}: ${event.data.error.message}`
      case 'run_cancelled': return `run cancelled: ${event.data.reason}`
      case 'input_requested': return event.data.kind === 'approval'
        ? `${pad}  ${event.data.agent_name} ? asks to run ${event.data.tool_name ?? ''} ${oneLine(JSON.stringify(event.data.arguments) ?? '', 120)}`
        : `${pad}  ${event.data.agent_name} ? ${oneLine(event.data.question ?? '', 160)}`
      case 'input_received': {
        const d = event.data
        const what = d.decision ?? (d.answer === undefined ? 'no answer' : oneLine(JSON.stringify(d.answer) ?? '', 80))
        return `${pad}  ${d.agent_name} ← ${what} (${d.by})`
      }
      case 'answer_delta': return ''
    }
  }
}

export function strip (s: string): string {
  return s.replace(ANSI, '')
}

/** Cuts a line to `width` visible characters, keeping its escape codes balanced enough for a terminal. */
function fit (line: string, width: number): string {
  if (visibleLength(line) <= width) return line
  let seen = 0
  let out = ''
  // eslint-disable-next-line no-control-regex
  for (const part of line.split(/(\x1b\[[0-9;?]*[A-Za-z])/)) {
    if (part.startsWith('\x1b[')) { out += part; continue }
    for (const ch of part) {
      if (seen >= width - 1) return out + '…\x1b[0m'
      out += ch
      seen++
    }
  }
  return out
}
