import type { ToolContext } from '../core/registry.js'
import { ANALYSES, DEFAULT_ENV, type AnalysisEnv, type AnalysisName, type AnalysisResult } from './analyses.js'
import type { UsageRecord, UsageSource } from './usage-data.js'

/** Runs the pack's analyses for a tool call: over one snapshot of the user's records per run. */
export interface Analyst {
  run<N extends AnalysisName>(ctx: ToolContext, name: N, args: Record<string, unknown>): Promise<AnalysisResult<N>>
  close(): Promise<void>
}

/** How long a run's snapshot is kept after its last use, and how many runs' snapshots at most. */
const SNAPSHOT_IDLE_MS = 120_000
const MAX_SNAPSHOTS = 16

/**
 * One snapshot of the records per (user, run): every tool of a run reads the same data, even when
 * an upload lands in the middle of it, and the store is read once per run, not once per tool.
 */
export function snapshotCache<C extends { user_id: string, run_id: string }, T> (load: (ctx: C) => Promise<T>, now: () => number = Date.now) {
  const entries = new Map<string, { value: Promise<T>, used: number }>()
  return {
    get (ctx: C): Promise<T> {
      const key = `${ctx.user_id}\u0000${ctx.run_id}`
      const t = now()
      for (const [k, e] of entries) if (t - e.used > SNAPSHOT_IDLE_MS) entries.delete(k)
      let e = entries.get(key)
      if (!e) {
        e = { value: load(ctx), used: t }
        // a failed read is not kept: the next tool call reads again
        e.value.catch(() => entries.delete(key))
        entries.set(key, e)
        while (entries.size > MAX_SNAPSHOTS) entries.delete(entries.keys().next().value!)
      }
      e.used = t
      entries.delete(key)
      entries.set(key, e)
      return e.value
    },
    clear () { entries.clear() }
  }
}

/** The analyses in this thread, over records from `source`. */
export function createLocalAnalyst (source: UsageSource, env: AnalysisEnv = DEFAULT_ENV): Analyst {
  const snapshots = snapshotCache(async (ctx: ToolContext): Promise<readonly UsageRecord[]> => await source(ctx))
  return {
    async run (ctx, name, args) {
      const records = await snapshots.get(ctx)
      ctx.progress(`${name.replace(/_/g, ' ')} over ${records.length} usage records`, 0.5)
      return ANALYSES[name](records, args, env) as any
    },
    async close () { snapshots.clear() }
  }
}
