import { h } from '../dom.js'
import type { Field } from '../state/schema-input.js'

export type RawValues = Record<string, string | boolean>

/**
 * The controls of a form from a schema's fields (the agent picker's input, a question's answer),
 * each labelled, with its hint; ids are `<prefix>-<name>`. `values` fill them (after a re-render),
 * `onInput` hears each change.
 */
export function fieldControls (fields: Field[], prefix: string, values: RawValues = {}, onInput?: (name: string, value: string | boolean) => void): HTMLElement[] {
  return fields.map((f) => {
    const id = `${prefix}-${f.name}`
    const value = values[f.name]
    const listen = onInput && ((e: Event) => {
      const el = e.target as HTMLInputElement | HTMLSelectElement
      onInput(f.name, el instanceof HTMLInputElement && el.type === 'checkbox' ? el.checked : el.value)
    })
    const common = { id, name: f.name, 'data-key': id, required: f.required && f.type !== 'boolean', 'aria-describedby': f.description ? `${id}-hint` : undefined, oninput: listen, onchange: listen }
    const text = typeof value === 'string' ? value : f.default as string | undefined
    const control = f.type === 'enum'
      ? h('select', common, !f.required && h('option', { value: '' }, '—'), (f.options ?? []).map((o) => h('option', { value: o, selected: o === (text ?? f.default) }, o)))
      : f.type === 'boolean'
        ? h('input', { ...common, type: 'checkbox', checked: typeof value === 'boolean' ? value : f.default === true })
        : h('input', { ...common, type: f.type === 'string' ? 'text' : 'number', step: f.type === 'integer' ? 1 : 'any', min: f.minimum, max: f.maximum, value: text })
    return h('div', { class: 'field' }, h('label', { for: id }, f.name, f.required ? ' (required)' : ''), control, f.description && h('span', { id: `${id}-hint`, class: 'hint' }, f.description))
  })
}

/** The raw values of the controls `fieldControls` made, read from the page. */
export function fieldValues (fields: Field[], prefix: string, root: ParentNode = document): RawValues {
  const raw: RawValues = {}
  for (const f of fields) {
    const el = root.querySelector<HTMLInputElement | HTMLSelectElement>(`#${CSS.escape(`${prefix}-${f.name}`)}`)
    if (!el) continue
    raw[f.name] = el instanceof HTMLInputElement && el.type === 'checkbox' ? el.checked : el.value
  }
  return raw
}
