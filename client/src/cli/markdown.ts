/**
 * The little Markdown the agents write, for a terminal: headings, paragraphs, bold, italic, inline
 * and fenced code, tables (aligned, with column alignment), nested lists, blockquotes, rules and
 * links. With `color` off the layout is the same, with no escape codes.
 */

export interface Style {
  bold (s: string): string
  italic (s: string): string
  dim (s: string): string
  code (s: string): string
  heading (s: string): string
  link (s: string): string
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`
export const COLOR: Style = {
  bold: wrap(1, 22),
  italic: wrap(3, 23),
  dim: wrap(2, 22),
  code: wrap(36, 39),
  heading: (s) => `\x1b[1;4m${s}\x1b[22;24m`,
  link: wrap(4, 24)
}
const same = (s: string) => s
export const PLAIN: Style = { bold: same, italic: same, dim: same, code: same, heading: same, link: same }

/** An escape sequence of the kind written here (colours, cursor moves). */
// eslint-disable-next-line no-control-regex
export const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g

/** Text from the service without control characters, so no agent can move the cursor or recolour the terminal. */
// eslint-disable-next-line no-control-regex
export const clean = (s: string) => s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '')

/** Visible width: escape codes take no room. */
export const visibleLength = (s: string) => [...s.replace(ANSI, '')].length

const FENCE = /^ {0,3}(`{3,}|~{3,})/
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/
const LIST_ITEM = /^( *)([-*+]|\d{1,9}[.)])\s+(.*)$/
const QUOTE = /^ {0,3}> ?/
const TABLE_ROW = /^\s*\|.*\|\s*$/
const TABLE_DIVIDER = /^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$/

export function renderMarkdown (source: string, style: Style = PLAIN, width = 80): string {
  const lines = clean(String(source ?? '').replace(/\r\n?/g, '\n')).split('\n')
  return blocks(lines, style, width).join('\n')
}

const isTable = (lines: string[], i: number) => TABLE_ROW.test(lines[i]) && i + 1 < lines.length && TABLE_DIVIDER.test(lines[i + 1])
const startsBlock = (lines: string[], i: number) => FENCE.test(lines[i]) || HEADING.test(lines[i]) || RULE.test(lines[i]) ||
  LIST_ITEM.test(lines[i]) || QUOTE.test(lines[i]) || isTable(lines, i)

function blocks (lines: string[], style: Style, width: number): string[] {
  const out: string[] = []
  const gap = () => { if (out.length && out[out.length - 1] !== '') out.push('') }
  let i = 0
  while (i < lines.length) {
    const line = lines[i]
    let m: RegExpExecArray | null
    if (!line.trim()) {
      i++
    } else if ((m = FENCE.exec(line))) {
      gap()
      for (i++; i < lines.length && !lines[i].trimStart().startsWith(m[1]); i++) out.push(`    ${style.code(lines[i])}`)
      i++
    } else if ((m = HEADING.exec(line))) {
      gap()
      out.push(style.heading(inline(m[2], style)))
      i++
    } else if (RULE.test(line)) {
      gap()
      out.push(style.dim('─'.repeat(Math.min(width, 60))))
      i++
    } else if (isTable(lines, i)) {
      gap()
      const align = cells(lines[i + 1]).map((c) => c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right') : 'left')
      const rows = [cells(lines[i])]
      for (i += 2; i < lines.length && TABLE_ROW.test(lines[i]); i++) rows.push(cells(lines[i]))
      out.push(...table(rows, align, style))
    } else if (LIST_ITEM.test(line)) {
      gap()
      const items: Array<{ indent: number, marker: string, text: string }> = []
      for (; i < lines.length; i++) {
        const item = LIST_ITEM.exec(lines[i])
        if (item) items.push({ indent: item[1].length, marker: /\d/.test(item[2]) ? item[2] : '•', text: item[3] })
        else if (/^\s+\S/.test(lines[i]) && items.length) items[items.length - 1].text += ' ' + lines[i].trim()
        else break
      }
      const levels: number[] = []
      for (const item of items) {
        while (levels.length && item.indent < levels[levels.length - 1]) levels.pop()
        if (!levels.length || item.indent > levels[levels.length - 1]) levels.push(item.indent)
        out.push(`${'  '.repeat(levels.length - 1)}${item.marker} ${inline(item.text, style)}`)
      }
    } else if (QUOTE.test(line)) {
      gap()
      const quoted: string[] = []
      for (; i < lines.length && QUOTE.test(lines[i]); i++) quoted.push(lines[i].replace(QUOTE, ''))
      for (const q of blocks(quoted, style, width - 2)) out.push(`${style.dim('│')} ${q}`)
    } else {
      gap()
      const para = [line.trim()]
      for (i++; i < lines.length && lines[i].trim() && !startsBlock(lines, i); i++) para.push(lines[i].trim())
      out.push(inline(para.join(' '), style))
    }
  }
  return out
}

function table (rows: string[][], align: string[], style: Style): string[] {
  const rendered = rows.map((row, r) => align.map((_, c) => {
    const text = inline(row[c] ?? '', style)
    return r === 0 ? style.bold(text) : text
  }))
  const widths = align.map((_, c) => Math.max(...rendered.map((row) => visibleLength(row[c]))))
  const pad = (s: string, w: number, a: string) => {
    const room = w - visibleLength(s)
    if (a === 'right') return ' '.repeat(room) + s
    if (a === 'center') return ' '.repeat(Math.floor(room / 2)) + s + ' '.repeat(Math.ceil(room / 2))
    return s + ' '.repeat(room)
  }
  const line = (row: string[]) => row.map((cell, c) => pad(cell, widths[c], align[c])).join('  ').trimEnd()
  return [line(rendered[0]), style.dim(widths.map((w) => '─'.repeat(w)).join('  ')), ...rendered.slice(1).map(line)]
}

/** A table row's cells; `\|` is a pipe inside a cell. */
function cells (row: string): string[] {
  return row.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'))
}

const MARK = '\uE000'
const MARKED = /\uE000(\d+)\uE000/g

/** Code spans and links first, kept aside, so emphasis never reaches inside them. */
function inline (text: string, style: Style): string {
  const kept: string[] = []
  const keep = (s: string) => `${MARK}${kept.push(s) - 1}${MARK}`
  let s = text.replace(/[\uE000]/g, '').replace(/(`+)(.+?)\1(?!`)/g, (_, _ticks, code: string) => keep(style.code(code.trim())))
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label: string, href: string) => keep(`${style.link(emphasis(label, style))} (${href})`))
  return emphasis(s, style).replace(MARKED, (_, n: string) => kept[Number(n)])
}

function emphasis (s: string, style: Style): string {
  return s
    .replace(/\*\*(?=\S)(.*?\S)\*\*/g, (_, t: string) => style.bold(t))
    .replace(/(^|[^\w])__(?=\S)(.*?\S)__(?!\w)/g, (_, pre: string, t: string) => pre + style.bold(t))
    .replace(/(^|[^\w*])\*(?=[^\s*])([^*]*?[^\s*])\*(?![\w*])/g, (_, pre: string, t: string) => pre + style.italic(t))
    .replace(/(^|[^\w])_(?=\S)([^_]*?\S)_(?!\w)/g, (_, pre: string, t: string) => pre + style.italic(t))
}
