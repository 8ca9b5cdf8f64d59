/** The rows of the bench table: a stable label, the workload's result key and how to show it. */
const int = (x) => Math.round(x).toLocaleString('en-US')
const ms = (x) => x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
const lat = (l) => l?.count === 0 ? 'no samples' : `${ms(l.p50)} / ${ms(l.p99)}${l.max === undefined ? '' : ` / ${ms(l.max)}`}`

const incomplete = (r) => r.complete === false ? ` (incomplete: ${int(r.delivered ?? r.events ?? 0)}${r.expected ? `/${int(r.expected)}` : ''})` : ''
const resumed = (r) => r.resumes ? ` (${r.resumes} resumes after a close)` : ''
const late = (r) => r.setup_overran_start_ms ? ` (setup overran the start by ${int(r.setup_overran_start_ms)} ms)` : ''

export const ROWS = [
  { id: 'flat_deliveries', label: 'flat out: deliveries/s', key: 'flat', value: (r) => r.deliveries_per_s, show: (r) => int(r.deliveries_per_s) + incomplete(r) + late(r), base: 'ws' },
  { id: 'flat_latency', label: 'flat out: emit→receive p50 / p99 / max (ms)', key: 'flat', value: (r) => r.latency_ms.p99, show: (r) => lat(r.latency_ms), base: 'ws' },
  { id: 'flat_disorder', label: 'flat out: disorder', key: 'flat', show: (r) => int(r.disorder) + resumed(r) },
  { id: 'paced_deliveries', label: 'paced: deliveries/s', key: 'paced', value: (r) => r.deliveries_per_s, show: (r) => int(r.deliveries_per_s) + incomplete(r) + late(r), base: 'ws' },
  { id: 'paced_latency', label: 'paced: emit→receive p50 / p99 / max (ms)', key: 'paced', value: (r) => r.latency_ms.p99, show: (r) => lat(r.latency_ms), base: 'ws' },
  { id: 'paced_disorder', label: 'paced: disorder', key: 'paced', show: (r) => int(r.disorder) + resumed(r) },
  { id: 'post_rate', label: 'POST /messages: requests/s', key: 'postRate', value: (r) => r.requests_per_s, show: (r) => int(r.requests_per_s) + (r.non2xx || r.errors ? ` (${r.non2xx} non-2xx, ${r.errors} errors)` : ''), base: 'fastify' },
  { id: 'post_latency', label: 'POST → agent_started on the socket: p50 / p99 (ms)', key: 'postLatency', value: (r) => r.latency_ms.p99, show: (r) => lat({ ...r.latency_ms, max: undefined }), base: 'fastify' },
  { id: 'idle_rss', label: 'idle socket: RSS per socket (KB)', key: 'idle', value: (r) => r.bytes_per_socket, show: (r) => (r.bytes_per_socket / 1024).toFixed(1), base: 'ws' },
  { id: 'storm', label: 'resume storm: until every socket is whole (ms)', key: 'storm', value: (r) => r.whole_ms, show: (r) => int(r.whole_ms) + (r.complete === false ? ' (incomplete)' : '') + (r.failed_reconnects ? ` (${r.failed_reconnects} reconnects failed)` : '') + (r.disorder ? ` (disorder ${r.disorder})` : ''), base: 'ws' },
  { id: 'replay_rate', label: 'replay: events/s', key: 'replay', value: (r) => r.events_per_s, show: (r) => int(r.events_per_s) + incomplete(r) + resumed(r), base: 'ws' },
  { id: 'replay_rss', label: 'replay: server RSS peak (MB)', key: 'replay', value: (r) => r.rss_peak_mb, show: (r) => `${r.rss_peak_mb.toFixed(0)} (from ${r.rss_before_mb.toFixed(0)})`, base: 'ws' }
]

export const COLUMNS = [
  { id: 'ws', title: 'bare ws' },
  { id: 'socketio', title: 'Socket.IO + recovery' },
  { id: 'fastify', title: 'bare Fastify' },
  { id: 'embedded', title: 'agentwire embedded' },
  { id: 'distributed', title: 'agentwire distributed' }
]

const NAMES = { ws: 'ws', fastify: 'Fastify' }

/** One cell: the value, its ratio to the row's base system, or why there is none. */
function cell (row, results, system) {
  const r = results[row.key]?.[system]
  if (r === undefined) return '—'
  if (r.na) return r.na
  if (r.error) return `error: ${r.error.slice(0, 80)}`
  let text
  try { text = row.show(r) } catch (err) { return `error: ${err.message}` }
  const base = row.base && results[row.key]?.[row.base]
  if (base && system !== row.base && !base.na && !base.error && row.value) {
    const ratio = row.value(r) / row.value(base)
    if (Number.isFinite(ratio)) text += ` (${ratio >= 10 ? ratio.toFixed(0) : ratio >= 0.01 ? ratio.toFixed(2) : ratio.toPrecision(1)}× ${NAMES[row.base]})`
  }
  return text
}

export function markdownTable (results) {
  const head = `| workload | ${COLUMNS.map((c) => c.title).join(' | ')} |`
  const rule = `| --- | ${COLUMNS.map(() => '---').join(' | ')} |`
  return [head, rule, ...ROWS.map((row) => `| ${row.label} | ${COLUMNS.map((c) => cell(row, results, c.id)).join(' | ')} |`)].join('\n')
}

/** The same cells as data, for results.json. */
export function tableRows (results) {
  return ROWS.map((row) => ({ id: row.id, label: row.label, cells: Object.fromEntries(COLUMNS.map((c) => [c.id, cell(row, results, c.id)])) }))
}
