/**
 * "No stalls", measured: a cost question over 100,000 usage records, alone and with five users
 * asking at once, while a probe calls GET /health every 10 ms. Runs the real app on a SQLite file,
 * once per ANALYSIS_WORKERS setting (BENCH_WORKERS, "1,2,0" by default).
 *
 *   npm run bench:pack
 */
import { createSigner } from 'fast-jwt'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { PRICES } from '../src/tools/prices.js'
import type { UsageRecord } from '../src/tools/usage-data.js'
import { mulberry32 } from '../src/usage/random.js'

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000)
const USERS = 5
const SECRET = 'bench-secret-that-is-at-least-32-bytes-long!!'
const QUESTION = 'How can we cut our LLM costs?'

/** 90 days of single requests over a dozen (feature, model) streams, with repeated prompts and a nightly job. */
function records (n: number): UsageRecord[] {
  const rng = mulberry32(132_000)
  const streams = [
    ['support-chat', 'claude-sonnet-4', 6000, 300, 3], ['support-chat', 'gpt-4.1', 5000, 250, 2], ['summarise', 'gpt-4.1', 15_000, 800, 0],
    ['summarise', 'gemini-2.5-flash', 12_000, 600, 0], ['classify', 'gpt-4.1-mini', 1200, 8, 2], ['classify', 'claude-opus-4', 1200, 8, 2],
    ['extract', 'gemini-2.5-flash', 5000, 500, 0], ['code-review', 'claude-sonnet-4', 30_000, 3000, 0], ['enrich', 'gpt-4.1', 80_000, 3000, 0],
    ['search', 'mistral-large-3', 2000, 200, 1], ['agent', 'deepseek-chat', 8000, 900, 1], ['agent', 'o3', 8000, 2000, 0]
  ] as const
  const start = Date.UTC(2026, 7, 1)
  const out: UsageRecord[] = []
  for (let i = 0; i < n; i++) {
    const [feature, model, input, output, prompts] = streams[Math.floor(rng() * streams.length)]
    const day = Math.floor(Math.pow(rng(), 0.8) * 90)
    const hour = feature === 'enrich' ? 1 + Math.floor(rng() * 4) : 7 + Math.floor(rng() * 12)
    const at = start + day * 86_400_000 + hour * 3_600_000 + Math.floor(rng() * 3_600_000)
    const p = PRICES.models[model]
    const tin = Math.round(input * (0.6 + 0.8 * rng()))
    const tout = Math.round(output * (0.5 + rng()))
    out.push({
      timestamp: new Date(at).toISOString(),
      provider: p.provider,
      model,
      input_tokens: tin,
      output_tokens: tout,
      cost_usd: Math.round(tin * p.input + tout * p.output) / 1e6,
      feature,
      request_id: `b${i}`,
      ...(prompts > 0 && { prompt_hash: `${feature}-${Math.floor(rng() * prompts)}` })
    })
  }
  return out
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]
const round = (x: number) => Math.round(x * 10) / 10

async function measure (workers: number, data: UsageRecord[]) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pack-bench-'))
  const config = loadConfig({ DATABASE_URL: `sqlite:${dir}/bench.db`, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'silent', ANALYSIS_WORKERS: String(workers), RATE_LIMIT_PER_MIN: '100000', RATE_LIMIT_BURST: '100000', MAX_RUNS_PER_USER: '10' })
  const app = await buildApp(config)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })
  const users = Array.from({ length: USERS }, (_, i) => `bench-user-${i}`)
  for (const u of users) await app.store.importUsage(u, data)

  const ask = async (user: string) => {
    const headers = { authorization: `Bearer ${sign({ sub: user })}`, 'content-type': 'application/json' }
    const t0 = performance.now()
    const res = await fetch(`${base}/messages`, { method: 'POST', headers, body: JSON.stringify({ content: QUESTION, input: { ask: false } }) })
    const { run_id: runId } = await res.json() as { run_id: string }
    for (;;) {
      const run = await (await fetch(`${base}/runs/${runId}`, { headers })).json() as { status: string, result?: { answer: string }, error?: { code: string, message: string } }
      if (['completed', 'failed', 'cancelled'].includes(run.status)) {
        if (run.status !== 'completed') throw new Error(`run ${runId} ${run.status}: ${JSON.stringify(run.error)}`)
        return { ms: performance.now() - t0, first: run.result!.answer.split('\n')[0] }
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  // one user alone, three times (each run reads its own snapshot)
  const alone: number[] = []
  let first = ''
  // CPU time of the whole process (event loop, workers, this load generator): unlike wall time, it
  // hardly moves with what else the machine is doing
  const cpu = (since: NodeJS.CpuUsage) => { const d = process.cpuUsage(since); return round((d.user + d.system) / 1000) }
  const cpuAlone = process.cpuUsage()
  for (let i = 0; i < 3; i++) {
    const r = await ask(users[0])
    alone.push(r.ms)
    first = r.first
  }

  // five users at once, /health probed every 10 ms until they are all answered
  const health: number[] = []
  const state = { done: false }
  const probe = (async () => {
    while (!state.done) {
      const t0 = performance.now()
      await (await fetch(`${base}/health`)).text()
      health.push(performance.now() - t0)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })()
  const aloneCpu = cpu(cpuAlone)
  const cpuTogether = process.cpuUsage()
  const together = await Promise.all(users.map(async (u) => (await ask(u)).ms))
  const togetherCpu = cpu(cpuTogether)
  state.done = true
  await probe
  await app.close()
  rmSync(dir, { recursive: true, force: true })
  return {
    analysis_workers: workers,
    // the machine's 1-minute load average at the end: the figures above depend on it
    load_average: round(loadavg()[0]),
    records_per_user: data.length,
    first_line: first,
    alone_ms: alone.map(round),
    alone_cpu_ms_each: round(aloneCpu / 3),
    five_at_once_ms: together.map(round),
    five_at_once_cpu_ms: togetherCpu,
    health: { probes: health.length, p50_ms: round(pct(health, 50)), p99_ms: round(pct(health, 99)), max_ms: round(Math.max(...health)), over_50ms: health.filter((x) => x > 50).length }
  }
}

const data = records(RECORDS)
for (const w of (process.env.BENCH_WORKERS ?? '1,2,0').split(',').map(Number)) {
  console.log(JSON.stringify(await measure(w, data), null, 2))
}
