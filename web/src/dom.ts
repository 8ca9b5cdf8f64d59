export type Child = Node | string | number | false | null | undefined | Child[]

/** An element; strings become text nodes, never markup. `on*` functions become listeners. */
export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value as EventListener)
    else if (name === 'open' && el instanceof HTMLDetailsElement) el.open = Boolean(value)
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

function append (el: Element, children: Child[]) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else el.append(typeof c === 'number' ? String(c) : c)
  }
}

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T

/** Replaces an element's children, keeping keyboard focus on the element with the same data-key. */
export function replaceKeepingFocus (parent: Element, ...children: Node[]) {
  const active = document.activeElement as HTMLElement | null
  const key = active && parent.contains(active) ? active.dataset.key : undefined
  parent.replaceChildren(...children)
  if (key) (parent.querySelector(`[data-key="${CSS.escape(key)}"]`) as HTMLElement | null)?.focus({ preventScroll: true })
}

export function duration (ms: number | undefined): string {
  if (ms === undefined) return ''
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

export function json (value: unknown): string {
  if (value === undefined) return '—'
  try { return JSON.stringify(value, null, 2) } catch { return String(value) }
}
