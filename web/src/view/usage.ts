import type { AgentwireClient } from '@agentwire/client'
import { h } from '../dom.js'
import { describeError, type ErrorLike } from '../state/connection.js'

interface Summary { records: number, requests: number, from: string | null, to: string | null, total_cost_usd: number, by_model: Array<{ model: string, cost_usd: number }> }

const money = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`
const day = (iso: string | null) => iso ? iso.slice(0, 10) : '—'

/** POST usage with upload progress (fetch has none): resolves with the answer, rejects with the contract's error body. */
function upload (token: string, file: File, onProgress: (fraction: number) => void): Promise<{ inserted: number, duplicates: number, total_rows: number }> {
  const type = /\.ndjson$|\.jsonl$/i.test(file.name) ? 'application/x-ndjson' : /\.json$/i.test(file.name) ? 'application/json' : 'text/csv'
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', 'usage')
    xhr.setRequestHeader('authorization', `Bearer ${token}`)
    xhr.setRequestHeader('content-type', type)
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total) })
    xhr.addEventListener('load', () => {
      let body: any
      try { body = JSON.parse(xhr.responseText) } catch { body = {} }
      if (xhr.status === 200) resolve(body)
      else reject(Object.assign(new Error(body.message ?? `HTTP ${xhr.status}`), { code: body.code ?? 'internal', errors: body.errors }, xhr.getResponseHeader('retry-after') ? { retryAfter: Number(xhr.getResponseHeader('retry-after')) } : {}))
    })
    xhr.addEventListener('error', () => reject(Object.assign(new Error('the upload did not reach the server'), { code: 'network' })))
    xhr.send(file)
  })
}

/** The data card: what the user has, load or clear the sample, upload a file with progress and per-line errors. */
export class UsageCard {
  private summary?: Summary
  private status: Node | string = ''

  constructor (
    private readonly card: HTMLDetailsElement,
    private readonly client: () => AgentwireClient,
    private readonly token: () => string
  ) {}

  async refresh (): Promise<void> {
    try {
      this.summary = await this.client().http.request<Summary>('GET', '/usage/summary')
    } catch (err) {
      this.status = h('span', { class: 'error' }, describeError(err as ErrorLike))
    }
    // someone with data wants the conversation, not the data card
    if (this.summary && this.summary.records === 0) this.card.open = true
    this.render()
  }

  private say (node: Node | string) {
    this.status = node
    this.render()
  }

  private async loadSample (profile: 'team' | 'enterprise') {
    this.say('Loading the sample…')
    try {
      const r = await this.client().http.request<{ inserted: number }>('POST', '/usage/sample', { body: { profile } })
      this.say(`Loaded ${r.inserted.toLocaleString('en-US')} sample records.`)
      await this.refresh()
    } catch (err) {
      this.say(h('span', { class: 'error' }, describeError(err as ErrorLike)))
    }
  }

  private async clear () {
    if (!window.confirm('Delete all of your usage records?')) return
    try {
      const r = await this.client().http.request<{ deleted: number }>('DELETE', '/usage')
      this.say(`Deleted ${r.deleted.toLocaleString('en-US')} records.`)
      await this.refresh()
    } catch (err) {
      this.say(h('span', { class: 'error' }, describeError(err as ErrorLike)))
    }
  }

  private async upload (file: File) {
    const bar = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` })
    this.say(h('span', {}, `Uploading ${file.name}… `, bar))
    try {
      const r = await upload(this.token(), file, (f) => { bar.value = f })
      this.say(`${file.name}: ${r.inserted.toLocaleString('en-US')} records added, ${r.duplicates.toLocaleString('en-US')} already there (${r.total_rows.toLocaleString('en-US')} rows).`)
      await this.refresh()
    } catch (e) {
      const err = e as ErrorLike & { errors?: Array<{ line: number, reason: string }> }
      this.say(h('div', { class: 'error' },
        h('p', {}, err.errors ? `${file.name} was not imported: nothing was added.` : describeError(err)),
        err.errors && h('table', { class: 'line-errors' },
          h('caption', { class: 'visually-hidden' }, 'Rows that were refused'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Line'), h('th', { scope: 'col' }, 'Why'))),
          h('tbody', {}, err.errors.map((x) => h('tr', {}, h('td', {}, x.line), h('td', {}, x.reason)))))))
    }
  }

  render (): void {
    const s = this.summary
    const line = s ? (s.records === 0 ? 'no records yet' : `${s.records.toLocaleString('en-US')} records · ${money(s.total_cost_usd)} · ${day(s.from)} to ${day(s.to)}`) : ''
    this.card.querySelector('#data-summary')!.textContent = line
    const file = h('input', { type: 'file', id: 'usage-file', accept: '.csv,.ndjson,.jsonl,.json,text/csv,application/json' })
    file.addEventListener('change', () => { if (file.files?.[0]) this.upload(file.files[0]) })
    const body = this.card.querySelector('#data-body')!
    body.replaceChildren(
      s && s.records > 0
        ? h('div', {}, h('p', {}, 'The agents analyse only your own records.'),
          h('table', { class: 'models' }, h('caption', {}, 'Costliest models'),
            h('tbody', {}, s.by_model.slice(0, 5).map((m) => h('tr', {}, h('td', {}, m.model), h('td', { class: 'num' }, money(m.cost_usd)))))))
        : h('p', {}, 'The agents analyse only your own LLM usage records. No data yet? Load a realistic sample: 30 days of a small team\'s calls across providers and models.'),
      h('div', { class: 'row wrap' },
        h('button', { type: 'button', id: 'load-sample', onclick: () => this.loadSample('team') }, s && s.records > 0 ? 'Replace with the sample' : 'Load the sample'),
        h('button', { type: 'button', class: 'secondary', onclick: () => this.loadSample('enterprise') }, 'Enterprise sample'),
        s && s.records > 0 && h('button', { type: 'button', class: 'secondary danger', id: 'clear-usage', onclick: () => this.clear() }, 'Clear my data')),
      h('div', { class: 'upload' }, h('label', { for: 'usage-file' }, 'Upload records (CSV with a header row, NDJSON or a JSON array)'), file),
      h('p', { id: 'usage-status', class: 'status', role: 'status' }, this.status))
  }
}
