/**
 * Writes client/src/wire.ts: the TypeScript types of the run events and WebSocket frames, read
 * from the server's TypeBox schemas (src/core/events.ts), the one source of truth. The output is
 * committed so the package builds on its own; test/client/wire.test.ts fails when it is stale.
 *
 *   npm run generate -w @agentwire/client
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ClientFrameSchema, EventDataSchemas, MAX_CONTENT_CHARS, MultitaskSchema, RunEventSchema, TERMINAL_TYPES } from '../../src/core/events.js'

interface Schema {
  type?: string
  const?: unknown
  anyOf?: Schema[]
  properties?: Record<string, Schema>
  required?: string[]
  additionalProperties?: boolean
  items?: Schema
}

export const WIRE_FILE = fileURLToPath(new URL('../src/wire.ts', import.meta.url))

const pascal = (name: string) => name.split('_').map((w) => w[0].toUpperCase() + w.slice(1)).join('')

/** A schema as a TypeScript type, `indent` being the indentation of the line it starts on. */
function typeOf (schema: Schema, indent: string): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const).replace(/"/g, '\'')
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, indent)).join(' | ')
  switch (schema.type) {
    case 'string': return 'string'
    case 'number': case 'integer': return 'number'
    case 'boolean': return 'boolean'
    case 'null': return 'null'
    case 'array': return `Array<${typeOf(schema.items ?? {}, indent)}>`
    case 'object': return objectOf(schema, indent)
    case undefined: return 'unknown'
    default: throw new Error(`no TypeScript type for JSON schema type ${schema.type}`)
  }
}

function objectOf (schema: Schema, indent: string, skip: string[] = []): string {
  const keys = Object.keys(schema.properties ?? {}).filter((k) => !skip.includes(k))
  if (keys.length === 0) return schema.additionalProperties === false ? 'Record<string, never>' : 'Record<string, unknown>'
  const inner = `${indent}  `
  const lines = keys.map((k) => `${inner}${k}${schema.required?.includes(k) ? '' : '?'}: ${typeOf(schema.properties![k], inner)}`)
  return `{\n${lines.join('\n')}\n${indent}}`
}

/** The text of client/src/wire.ts. */
export function renderWire (): string {
  const types = Object.keys(EventDataSchemas) as Array<keyof typeof EventDataSchemas>
  const out: string[] = [
    '// Generated from src/core/events.ts by client/scripts/generate-wire.ts; do not edit.',
    '// After changing the schemas: npm run generate -w @agentwire/client (test/client/wire.test.ts checks).',
    '',
    '/** An error inside an event: `tool_completed`, `agent_error`, `run_failed`. */',
    `export interface ErrorBody ${objectOf(EventDataSchemas.run_failed.properties.error as Schema, '')}`,
    ''
  ]
  for (const type of types) {
    out.push(`/** \`data\` of ${/^[aeiou]/.test(type) ? 'an' : 'a'} \`${type}\` event. */`)
    out.push(`export interface ${pascal(type)}Data ${objectOf(EventDataSchemas[type] as Schema, '')}`, '')
  }
  out.push('/** Event type → its `data`. */')
  out.push(`export interface EventDataMap {\n${types.map((t) => `  ${t}: ${pascal(t)}Data`).join('\n')}\n}`, '')
  out.push('export type EventType = keyof EventDataMap', '')
  const envelope = RunEventSchema.anyOf[0] as Schema
  out.push('/** What every run event carries besides its `type` and `data`. */')
  out.push(`export interface EventEnvelope ${objectOf(envelope, '', ['type', 'data'])}`, '')
  out.push('/** One run event of type `T`. */')
  out.push('export interface RunEventOf<T extends EventType> extends EventEnvelope {\n  type: T\n  data: EventDataMap[T]\n}', '')
  out.push('/** Any run event; narrow it on `type`. */')
  out.push('export type RunEvent = { [T in EventType]: RunEventOf<T> }[EventType]', '')
  out.push('/** The events that end a run; exactly one of them is its last event. */')
  out.push(`export const TERMINAL_TYPES = ${JSON.stringify([...TERMINAL_TYPES]).replace(/"/g, '\'').replace(/,/g, ', ')} as const`, '')
  out.push('export type TerminalType = typeof TERMINAL_TYPES[number]', '')
  out.push(`export type Multitask = ${typeOf(MultitaskSchema as Schema, '')}`, '')
  out.push(`export const MAX_CONTENT_CHARS = ${MAX_CONTENT_CHARS}`, '')
  out.push('/** A frame a client sends on the WebSocket. */')
  out.push(`export type ClientFrame =\n${ClientFrameSchema.anyOf.map((s) => `  | ${objectOf(s as Schema, '  ')}`).join('\n')}`, '')
  return out.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(WIRE_FILE, renderWire())
  console.log(`wrote ${WIRE_FILE}`)
}
