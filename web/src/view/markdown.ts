import DOMPurify from 'dompurify'
import { marked } from 'marked'

// links from an answer open in a new tab and tell the target nothing
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer')
  }
})

/** Markdown from an agent as safe HTML: marked renders it, DOMPurify keeps only harmless markup. */
export function renderMarkdown (source: string): DocumentFragment {
  const html = marked.parse(source, { async: false, gfm: true, breaks: false })
  return DOMPurify.sanitize(html, { RETURN_DOM_FRAGMENT: true, FORBID_TAGS: ['style', 'form', 'input', 'img'], FORBID_ATTR: ['style'] })
}
