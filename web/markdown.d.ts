/** Types of web/markdown.js, for the tests that import it from TypeScript. */
export function escapeHtml (text: string): string
export function renderMarkdown (source: string, options?: { headingOffset?: number }): string
