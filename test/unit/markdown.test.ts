import t from 'tap'
import { escapeHtml, renderMarkdown } from '../../web/markdown.js'

t.test('HTML in the source stays text', async (t) => {
  t.equal(escapeHtml('<a href="x">\'&\'</a>'), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
  t.equal(renderMarkdown('<script>alert(1)</script>'), '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>')
  t.equal(renderMarkdown('**<img src=x onerror=alert(1)>**'), '<p><strong>&lt;img src=x onerror=alert(1)&gt;</strong></p>')
  t.equal(renderMarkdown('`<b>`'), '<p><code>&lt;b&gt;</code></p>')
  t.equal(renderMarkdown('```\n<script>\n```'), '<pre><code>&lt;script&gt;</code></pre>')
  t.equal(renderMarkdown('[x](javascript:alert(1))'), '<p>[x](javascript:alert(1))</p>', 'only http(s), mailto and relative links')
  t.equal(renderMarkdown('[x](https://example.com/a"b)'),
    '<p><a href="https://example.com/a&quot;b" rel="noopener noreferrer" target="_blank">x</a></p>', 'a quote cannot leave the attribute')
  t.equal(renderMarkdown('\uE0000\uE000 **x**'), '<p>0 <strong>x</strong></p>', 'the placeholder marks are stripped from the source')
})

t.test('a table with aligned columns', async (t) => {
  const md = [
    '| Recommendation | Saves a month |',
    '| --- | ---: |',
    '| Cache **support-chat** | $28.18 |',
    '| a \\| b | <i>x</i> |'
  ].join('\n')
  t.equal(renderMarkdown(md), '<div class="table-wrap"><table>' +
    '<thead><tr><th>Recommendation</th><th class="right">Saves a month</th></tr></thead>' +
    '<tbody><tr><td>Cache <strong>support-chat</strong></td><td class="right">$28.18</td></tr>' +
    '<tr><td>a | b</td><td class="right">&lt;i&gt;x&lt;/i&gt;</td></tr></tbody></table></div>')
})

t.test('headings, paragraphs, lists and quotes', async (t) => {
  t.equal(renderMarkdown('## Spend\n\nline one\nline two\n\n### More', { headingOffset: 1 }),
    '<h3>Spend</h3>\n<p>line one line two</p>\n<h4>More</h4>')
  t.equal(renderMarkdown('**Phase 1.** Goal\n- **Step**\n  - how\n  - why\n- next'),
    '<p><strong>Phase 1.</strong> Goal</p>\n<ul><li><strong>Step</strong><ul><li>how</li><li>why</li></ul></li><li>next</li></ul>')
  t.equal(renderMarkdown('3. c\n4. d'), '<ol start="3"><li>c</li><li>d</li></ol>')
  t.equal(renderMarkdown('> careful: *latency*'), '<blockquote><p>careful: <em>latency</em></p></blockquote>')
  t.equal(renderMarkdown('_The data analysis failed._ usage_summary stays'), '<p><em>The data analysis failed.</em> usage_summary stays</p>')
  t.equal(renderMarkdown('a\n\n---\n\nb'), '<p>a</p>\n<hr>\n<p>b</p>')
})
