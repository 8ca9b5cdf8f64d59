/** JSON Schemas of the inputs the pack's agents pass each other. */

const DAY = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }
const NAMES = { type: 'array', items: { type: 'string' } }

export const RANGE_SCHEMA = { type: 'object', properties: { from: DAY, to: DAY }, required: ['from', 'to'], additionalProperties: false }
export const FOCUS_SCHEMA = { type: 'object', properties: { models: NAMES, providers: NAMES, features: NAMES } }

/** An inclusive range of UTC days. */
export interface DayRange { from: string, to: string }
/** Names the question asked about. */
export interface Focus { models?: string[], providers?: string[], features?: string[] }
