/**
 * Answering a run's `input_requested` (contract §5.6) from the page: the form a question's schema
 * describes, the arguments a person edits as JSON, each checked against its schema before it is
 * sent (the server checks again; its refusal is shown in words and the card stays). No DOM here.
 */
import { Validator, type Schema } from '@cfworker/json-schema'
import type { Interrupt, InputReceived } from './run-view.js'
import { fieldsOf, inputFrom, type Field } from './schema-input.js'

export type Answer =
  | { decision: 'approve' | 'reject', reason?: string, arguments?: Record<string, unknown> }
  | { answer: unknown }

const asSchema = (s: unknown): Schema | boolean => (s && typeof s === 'object') || typeof s === 'boolean' ? s as Schema | boolean : {}

/** What is wrong with `value` under `schema`, in words (empty: nothing). Runs under the page's CSP (no eval). */
export function problems (schema: unknown, value: unknown): string[] {
  const { valid, errors } = new Validator(asSchema(schema), '7', false).validate(value)
  if (valid) return []
  const out: string[] = []
  for (const e of errors) {
    // the wrappers repeat what their leaves say
    if (['properties', 'items', 'allOf', '$ref', 'false'].includes(e.keyword)) continue
    const where = e.instanceLocation.replace(/^#\/?/, '').replace(/\//g, '.')
    const extra = /^Property "(.+)" does not match additional properties schema\.$/.exec(e.error)
    const what = extra ? `"${extra[1]}" is not allowed.` : e.error
    out.push(where ? `${where}: ${what}` : what)
  }
  return out.length > 0 ? out : ['The value does not meet the schema.']
}

/** The schema of an approval's edited arguments: the tool's input_schema, from the approval's schema. */
export function argumentsSchema (interrupt: Interrupt): unknown {
  const s = interrupt.schema as { properties?: { arguments?: unknown } } | undefined
  return s?.properties?.arguments ?? { type: 'object' }
}

/** Edited arguments from the JSON editor's text: the object to send, or why not. */
export function parseArguments (interrupt: Interrupt, text: string): { value: Record<string, unknown> } | { errors: string[] } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { errors: [`Not JSON: ${(err as Error).message}`] }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { errors: ['The arguments must be a JSON object.'] }
  const errors = problems(argumentsSchema(interrupt), value)
  return errors.length > 0 ? { errors } : { value: value as Record<string, unknown> }
}

/**
 * The form of a question: the fields of an object schema, or one field named `answer` for a
 * string, number, integer, boolean or enum. `undefined`: the schema needs the JSON editor.
 */
export function questionForm (schema: unknown): { fields: Field[], wrapped: boolean } | undefined {
  const s = (schema && typeof schema === 'object' ? schema : {}) as { type?: unknown, properties?: Record<string, unknown> }
  if (s.type === 'object' && s.properties) {
    const fields = fieldsOf(s)
    return fields.length === Object.keys(s.properties).length && fields.length > 0 ? { fields, wrapped: false } : undefined
  }
  const fields = fieldsOf({ type: 'object', properties: { answer: s }, required: ['answer'] })
  return fields.length === 1 ? { fields, wrapped: true } : undefined
}

/** A question's answer from its form's raw values, or from the JSON editor's text when it has no form. */
export function questionAnswer (interrupt: Interrupt, raw: Record<string, string | boolean> | string): { value: unknown } | { errors: string[] } {
  let value: unknown
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw)
    } catch (err) {
      return { errors: [`Not JSON: ${(err as Error).message}`] }
    }
  } else {
    const form = questionForm(interrupt.schema)
    const input = inputFrom(form?.fields ?? [], raw) ?? {}
    value = form?.wrapped ? input.answer : input
    if (value === undefined) return { errors: ['Give an answer.'] }
  }
  const errors = problems(interrupt.schema, value)
  return errors.length > 0 ? { errors } : { value }
}

/** How an interrupt was closed, in words. */
export function receivedText (interrupt: Interrupt, r: InputReceived): string {
  if (r.by === 'cancel') return 'Closed unanswered: the run ended.'
  if (interrupt.kind === 'question') {
    if (r.by === 'expiry') return r.answer === undefined ? 'Expired without an answer.' : `Expired: answered ${JSON.stringify(r.answer)} by default.`
    return `You answered ${JSON.stringify(r.answer)}.`
  }
  const call = interrupt.tool_name ? ` ${interrupt.tool_name}` : ''
  if (r.decision === 'reject') return `${r.by === 'expiry' ? 'Expired: rejected' : 'You rejected'}${call}${r.reason ? `: ${r.reason}` : ''}.`
  if (r.by === 'expiry') return `Expired: approved${call} by default.`
  return `You approved${call}${r.arguments !== undefined ? ' with edited arguments' : ''}.`
}
