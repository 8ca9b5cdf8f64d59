/** The input form an agent's `input_schema` describes: its simple top-level properties. */

export interface Field {
  name: string
  type: 'string' | 'number' | 'integer' | 'boolean' | 'enum'
  required: boolean
  description?: string
  options?: string[]
  minimum?: number
  maximum?: number
  default?: unknown
}

interface Schema { type?: unknown, properties?: Record<string, Record<string, unknown>>, required?: unknown }

export function fieldsOf (schema: unknown): Field[] {
  const s = (schema && typeof schema === 'object' ? schema : {}) as Schema
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : [])
  const out: Field[] = []
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    const base = {
      name,
      required: required.has(name),
      ...(typeof p.description === 'string' && { description: p.description }),
      ...(p.default !== undefined && { default: p.default })
    }
    if (Array.isArray(p.enum)) out.push({ ...base, type: 'enum', options: p.enum.map(String) })
    else if (p.type === 'string' || p.type === 'boolean') out.push({ ...base, type: p.type })
    else if (p.type === 'number' || p.type === 'integer') {
      out.push({ ...base, type: p.type, ...(typeof p.minimum === 'number' && { minimum: p.minimum }), ...(typeof p.maximum === 'number' && { maximum: p.maximum }) })
    }
  }
  return out
}

/** The `input` object from the form's raw values (strings, or booleans for checkboxes); blanks are left out. */
export function inputFrom (fields: Field[], raw: Record<string, string | boolean>): Record<string, unknown> | undefined {
  const input: Record<string, unknown> = {}
  for (const f of fields) {
    const v = raw[f.name]
    if (f.type === 'boolean') {
      if (v === true) input[f.name] = true
      else if (f.required) input[f.name] = false
      continue
    }
    if (typeof v !== 'string' || v.trim() === '') continue
    input[f.name] = f.type === 'number' || f.type === 'integer' ? Number(v) : v
  }
  return Object.keys(input).length > 0 ? input : undefined
}
