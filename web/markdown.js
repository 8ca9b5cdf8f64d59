/**
 * The little Markdown the agents write: headings, paragraphs, bold, italic, inline and fenced code,
 * tables (with column alignment), nested lists, blockquotes, rules and http(s) links. The source is
 * HTML-escaped before anything else, so no tag or attribute in it can reach the page.
 */

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c])
}

// private-use characters mark the spans already turned into HTML; they are stripped from the source
const MARK = '\uE000'
const MARKED = /\uE000(\d+)\uE000/g

const FENCE = /^ {0,3}(`{3,}|~{3,})/
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/
const LIST_ITEM = /^( *)([-*+]|\d{1,9}[.)])\s+(.*)$/
const QUOTE = /^ {0,3}&gt; ?/
const TABLE_ROW = /^\s*\|.*\|\s*$/
const TABLE_DIVIDER = /^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$/

/** Markdown to HTML; `headingOffset` moves headings down to fit the page's outline. */
export function renderMarkdown (source, { headingOffset = 0 } = {}) {
  const text = String(source ?? '').replace(/[\uE000\uE001]/g, '').replace(/\r\n?/g, '\n')
  return blocks(escapeHtml(text).split('\n'), headingOffset)
}

const isTable = (lines, i) => TABLE_ROW.test(lines[i]) && i + 1 < lines.length && TABLE_DIVIDER.test(lines[i + 1])
const startsBlock = (lines, i) => FENCE.test(lines[i]) || HEADING.test(lines[i]) || RULE.test(lines[i]) ||
  LIST_ITEM.test(lines[i]) || QUOTE.test(lines[i]) || isTable(lines, i)

/** `lines` are already escaped. */
function blocks (lines, headingOffset) {
  const out = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]
    let m
    if (!line.trim()) {
      i++
    } else if ((m = FENCE.exec(line))) {
      const code = []
      for (i++; i < lines.length && !lines[i].trimStart().startsWith(m[1]); i++) code.push(lines[i])
      i++
      out.push(`<pre><code>${code.join('\n')}</code></pre>`)
    } else if ((m = HEADING.exec(line))) {
      const level = Math.min(6, m[1].length + headingOffset)
      out.push(`<h${level}>${inline(m[2])}</h${level}>`)
      i++
    } else if (RULE.test(line)) {
      out.push('<hr>')
      i++
    } else if (isTable(lines, i)) {
      const align = cells(lines[i + 1]).map((c) => c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right') : '')
      const row = (tag, cols) => '<tr>' + align.map((a, n) => `<${tag}${a ? ` class="${a}"` : ''}>${inline(cols[n] ?? '')}</${tag}>`).join('') + '</tr>'
      const head = row('th', cells(lines[i]))
      const body = []
      for (i += 2; i < lines.length && TABLE_ROW.test(lines[i]); i++) body.push(row('td', cells(lines[i])))
      out.push(`<div class="table-wrap"><table><thead>${head}</thead><tbody>${body.join('')}</tbody></table></div>`)
    } else if (LIST_ITEM.test(line)) {
      const items = []
      for (; i < lines.length; i++) {
        const item = LIST_ITEM.exec(lines[i])
        if (item) items.push({ indent: item[1].length, ordered: /\d/.test(item[2]), start: parseInt(item[2], 10), text: item[3] })
        else if (/^\s+\S/.test(lines[i])) items[items.length - 1].text += ' ' + lines[i].trim()
        else break
      }
      out.push(list(items))
    } else if (QUOTE.test(line)) {
      const quoted = []
      for (; i < lines.length && QUOTE.test(lines[i]); i++) quoted.push(lines[i].replace(QUOTE, ''))
      out.push(`<blockquote>${blocks(quoted, headingOffset)}</blockquote>`)
    } else {
      const para = [line.trim()]
      for (i++; i < lines.length && lines[i].trim() && !startsBlock(lines, i); i++) para.push(lines[i].trim())
      out.push(`<p>${inline(para.join(' '))}</p>`)
    }
  }
  return out.join('\n')
}

/** A table row's cells; `\|` is a pipe inside a cell. */
function cells (row) {
  return row.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'))
}

/** Items nest by indentation: a deeper item opens a list inside the item before it. */
function list (items) {
  let html = ''
  const open = []
  for (const item of items) {
    while (open.length && item.indent < open[open.length - 1].indent) html += `</li></${open.pop().tag}>`
    const top = open[open.length - 1]
    if (!top || item.indent > top.indent) {
      const tag = item.ordered ? 'ol' : 'ul'
      html += item.ordered && item.start !== 1 ? `<ol start="${item.start}">` : `<${tag}>`
      open.push({ indent: item.indent, tag })
    } else {
      html += '</li>'
    }
    html += `<li>${inline(item.text)}`
  }
  while (open.length) html += `</li></${open.pop().tag}>`
  return html
}

const SAFE_HREF = /^(?:https?:\/\/|mailto:|\/|#)/i

/** Code spans and links first, kept aside, so emphasis never reaches inside them. */
function inline (text) {
  const kept = []
  const keep = (html) => `${MARK}${kept.push(html) - 1}${MARK}`
  let s = text.replace(/(`+)(.+?)\1(?!`)/g, (_, _ticks, code) => keep(`<code>${code.trim()}</code>`))
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, href) =>
    SAFE_HREF.test(href) ? keep(`<a href="${href}" rel="noopener noreferrer" target="_blank">${emphasis(label)}</a>`) : whole)
  return emphasis(s).replace(MARKED, (_, n) => kept[n])
}

function emphasis (s) {
  return s
    .replace(/\*\*(?=\S)(.*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^\w])__(?=\S)(.*?\S)__(?!\w)/g, '$1<strong>$2</strong>')
    .replace(/(^|[^\w*])\*(?=[^\s*])([^*]*?[^\s*])\*(?![\w*])/g, '$1<em>$2</em>')
    .replace(/(^|[^\w])_(?=\S)([^_]*?\S)_(?!\w)/g, '$1<em>$2</em>')
}
