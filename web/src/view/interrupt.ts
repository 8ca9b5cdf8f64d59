import { h, json } from '../dom.js'
import { describeError, type ErrorLike } from '../state/connection.js'
import { parseArguments, questionAnswer, questionForm, receivedText, type Answer } from '../state/interrupt.js'
import type { Interrupt, RunView } from '../state/run-view.js'
import { fieldControls, fieldValues, type RawValues } from './fields.js'

/** What the card needs of the page: send the answer (rejects with the API's error), and draw the run again. */
export interface InterruptActions {
  respond (view: RunView, interrupt: Interrupt, answer: Answer): Promise<unknown>
  refresh (view: RunView): void
}

/** A card's state across re-renders: what the reader chose, typed, and what the server said. */
interface CardState {
  mode: 'choose' | 'reject' | 'edit'
  reason: string
  json?: string
  raw: RawValues
  errors: string[]
  sending: boolean
  /** accepted by the server: the card waits for the run's input_received */
  sent: boolean
  /** the control to take the keyboard focus at the next render (the one that replaced the button pressed) */
  focus?: string
}
const cards = new Map<string, CardState>()
const cardOf = (id: string): CardState => {
  let c = cards.get(id)
  if (!c) cards.set(id, (c = { mode: 'choose', reason: '', raw: {}, errors: [], sending: false, sent: false }))
  return c
}

/** Words for a refused answer: the card stays, so the reader can change it. */
function refusal (err: ErrorLike): string {
  if (err.code === 'invalid_request') return `The server refused this answer: ${err.message}. Change it and send it again.`
  if (err.code === 'interrupt_closed') return 'This request is closed: it was answered already, it expired, or the run ended.'
  return describeError(err)
}

function timeLeft (expiresAt: string): string {
  const at = new Date(expiresAt)
  return `Answer by ${at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}${at.toDateString() === new Date().toDateString() ? '' : ` on ${at.toLocaleDateString()}`}.`
}

/** The card of an open interrupt: the call and its arguments with approve / reject / edit, or the question's form. */
export function renderInterruptCard (view: RunView, interrupt: Interrupt, actions: InterruptActions): HTMLElement {
  const id = interrupt.interrupt_id
  const card = cardOf(id)
  const key = (part: string) => `interrupt:${id}:${part}`
  const titleId = `interrupt-${id}-title`
  const redraw = () => actions.refresh(view)

  const send = async (answer: Answer) => {
    card.sending = true
    card.errors = []
    redraw()
    try {
      await actions.respond(view, interrupt, answer)
      card.sent = true
    } catch (err) {
      card.errors = [refusal(err as ErrorLike)]
    } finally {
      card.sending = false
      redraw()
    }
  }
  const fail = (errors: string[]) => { card.errors = errors; redraw() }
  const mode = (m: CardState['mode']) => () => {
    card.focus = m === 'reject' ? 'reason' : m === 'edit' ? 'json' : card.mode === 'reject' ? 'reject' : 'edit'
    card.mode = m
    card.errors = []
    redraw()
  }
  const focus = card.focus
  card.focus = undefined
  // the page focuses [data-autofocus] after it drew the card; Escape leaves a form
  const control = (part: string) => ({ 'data-key': key(part), 'data-autofocus': focus === part ? 'true' : undefined })
  const leave = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.preventDefault(); mode('choose')() } }
  // aria-disabled, not disabled: a disabled button would drop the keyboard focus while the answer is sent
  const busy = card.sending || card.sent
  const button = (part: string, label: string, onclick: () => void, cls = '') =>
    h('button', { type: 'button', class: `small ${cls}`.trim(), ...control(part), 'aria-disabled': busy ? 'true' : undefined, onclick: () => { if (!card.sending && !card.sent) onclick() } }, label)

  let body: Array<Node | false | undefined>
  if (interrupt.kind === 'approval') {
    const editing = card.mode === 'edit'
    card.json ??= json(interrupt.arguments ?? {})
    body = [
      h('h4', {}, 'Arguments'),
      h('pre', { class: 'code' }, json(interrupt.arguments)),
      card.mode === 'choose' && h('div', { class: 'row wrap' },
        button('approve', 'Approve', () => { send({ decision: 'approve' }) }),
        button('reject', 'Reject…', mode('reject'), 'secondary danger'),
        button('edit', 'Edit arguments…', mode('edit'), 'secondary')),
      card.mode === 'reject' && h('div', { class: 'interrupt-form', onkeydown: leave },
        h('label', { for: `interrupt-${id}-reason` }, 'Reason (optional)'),
        h('textarea', { id: `interrupt-${id}-reason`, ...control('reason'), rows: 2, maxlength: 1000, oninput: (e: Event) => { card.reason = (e.target as HTMLTextAreaElement).value } }, card.reason),
        h('div', { class: 'row wrap' },
          button('reject-send', 'Reject', () => { send({ decision: 'reject', ...(card.reason.trim() && { reason: card.reason.trim() }) }) }, 'danger'),
          button('back', 'Back', mode('choose'), 'secondary'))),
      editing && h('div', { class: 'interrupt-form', onkeydown: leave },
        h('label', { for: `interrupt-${id}-json` }, 'Arguments (JSON)'),
        h('textarea', { id: `interrupt-${id}-json`, class: 'code', ...control('json'), rows: 8, spellcheck: 'false', 'aria-describedby': `interrupt-${id}-json-hint`, oninput: (e: Event) => { card.json = (e.target as HTMLTextAreaElement).value } }, card.json),
        h('p', { id: `interrupt-${id}-json-hint`, class: 'hint' }, 'They replace the call\'s arguments; they are checked against the tool\'s schema before they are sent.'),
        h('div', { class: 'row wrap' },
          button('edit-send', 'Approve with these arguments', () => {
            const parsed = parseArguments(interrupt, card.json ?? '')
            if ('errors' in parsed) fail(parsed.errors)
            else send({ decision: 'approve', arguments: parsed.value })
          }),
          button('back', 'Back', mode('choose'), 'secondary')))
    ]
  } else {
    const form = questionForm(interrupt.schema)
    const prefix = `interrupt-${id}-field`
    card.json ??= ''
    body = [
      form
        ? h('div', { class: 'fields' }, fieldControls(form.fields, prefix, card.raw, (name, value) => { card.raw[name] = value }))
        : h('div', { class: 'interrupt-form' },
          h('label', { for: `interrupt-${id}-json` }, 'Your answer (JSON)'),
          h('textarea', { id: `interrupt-${id}-json`, class: 'code', ...control('json'), rows: 4, spellcheck: 'false', oninput: (e: Event) => { card.json = (e.target as HTMLTextAreaElement).value } }, card.json),
          h('h4', {}, 'It must meet this schema'), h('pre', { class: 'code' }, json(interrupt.schema))),
      h('div', { class: 'row wrap' }, button('answer', 'Answer', () => {
        const answer = questionAnswer(interrupt, form ? fieldValues(form.fields, prefix, document) : card.json ?? '')
        if ('errors' in answer) fail(answer.errors)
        else send({ answer: answer.value })
      }))
    ]
  }
  return h('section', { class: 'interrupt-card', 'data-interrupt': id, 'aria-labelledby': titleId },
    h('h3', { id: titleId, class: 'interrupt-title' }, interrupt.kind === 'approval'
      ? ['Approve ', h('code', {}, interrupt.tool_name ?? 'the call'), '?']
      : interrupt.question ?? 'The agent asks'),
    h('p', { class: 'muted' }, `${interrupt.agent_name} is waiting for you${interrupt.kind === 'approval' ? ' before it makes this call' : ''}. ${timeLeft(interrupt.expires_at)}`),
    ...body,
    h('div', { class: 'interrupt-status', role: 'status' }, card.sending ? 'Sending…' : card.sent ? 'Sent. The run goes on…' : ''),
    card.errors.length > 0 && h('div', { class: 'error', role: 'alert' }, card.errors.map((e) => h('p', {}, e))))
}

/**
 * An interrupt, what was asked and how it was closed: in the run's tree, and (`summary`) under the
 * run's head, where it stays in view when the tree is folded and takes the focus of the card it replaces.
 */
export function renderInterruptStep (interrupt: Interrupt, summary = false): HTMLElement {
  if (interrupt.received) cards.delete(interrupt.interrupt_id)
  const r = interrupt.received
  // the summary's words name the call already
  const what = interrupt.kind === 'question'
    ? [h('span', {}, 'Question: '), interrupt.question ?? '']
    : summary && r ? [] : [h('span', {}, 'Approval of '), h('code', {}, interrupt.tool_name ?? 'a call')]
  return h('div', { class: 'interrupt-step', 'data-interrupt': interrupt.interrupt_id, 'data-by': r?.by, 'data-decision': r?.decision },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, '◈'), ' ', ...what, ' ',
    r
      ? h('strong', { class: 'interrupt-received', ...(summary && { tabindex: -1, 'data-key': `received:${interrupt.interrupt_id}` }) }, receivedText(interrupt, r))
      : h('span', { class: 'muted' }, 'Waiting for your answer.'),
    r?.arguments !== undefined && h('pre', { class: 'code' }, json(r.arguments)))
}
