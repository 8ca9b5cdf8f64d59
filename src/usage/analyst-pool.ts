import { Worker } from 'node:worker_threads'
import type { ToolContext } from '../core/registry.js'
import type { AnalysisEnv } from '../tools/analyses.js'
import type { Analyst } from '../tools/analyst.js'
import type { WorkerReply, WorkerTask } from './analyst-worker.js'

export interface PoolOptions {
  /** sqlite:<file> or postgres://…: each worker opens its own read connection */
  databaseUrl: string
  workers: number
  env: AnalysisEnv
}

/** The worker script next to this module, as source (tests, bench) or as built JavaScript. */
const WORKER = new URL(import.meta.url.endsWith('.ts') ? './analyst-worker.ts' : './analyst-worker.js', import.meta.url)

/** Whether workers can read this database themselves: a file or a server, not an in-memory SQLite. */
export const poolable = (databaseUrl: string) => /^postgres(ql)?:\/\//.test(databaseUrl) || (databaseUrl.startsWith('sqlite:') && databaseUrl !== 'sqlite::memory:')

/**
 * The analyses off the event loop: a few worker threads that read the records from the database
 * themselves and keep one snapshot per run. A run's tools all go to the same worker (by its id), so
 * they share that snapshot; only the small results cross back to this thread.
 */
export function createWorkerAnalyst (opts: PoolOptions): Analyst {
  const pending = new Map<number, { resolve: (v: unknown, records: number) => void, reject: (e: Error) => void }>()
  let next = 0
  const spawn = () => {
    const w = new Worker(WORKER, { workerData: { databaseUrl: opts.databaseUrl, env: opts.env } })
    w.unref()
    w.on('message', (reply: WorkerReply) => {
      const p = pending.get(reply.id)
      if (!p) return
      pending.delete(reply.id)
      if ('error' in reply) p.reject(new Error(reply.error))
      else p.resolve(reply.result, reply.records)
    })
    // a worker that dies fails what it held; the next task gets a fresh one
    w.on('error', (err) => failAll(w, err))
    w.on('exit', (code) => { if (code !== 0) failAll(w, new Error(`analysis worker exited with code ${code}`)) })
    return w
  }
  const held = new Map<Worker, Set<number>>()
  const workers: Worker[] = Array.from({ length: Math.max(1, opts.workers) }, spawn)
  const failAll = (w: Worker, err: Error) => {
    for (const id of held.get(w) ?? []) { pending.get(id)?.reject(err); pending.delete(id) }
    held.delete(w)
    const i = workers.indexOf(w)
    if (i !== -1 && !closed) workers[i] = spawn()
  }
  let closed = false
  const pick = (runId: string) => {
    let h = 0
    for (let i = 0; i < runId.length; i++) h = (h * 31 + runId.charCodeAt(i)) >>> 0
    return workers[h % workers.length]
  }
  return {
    run (ctx: ToolContext, name, args) {
      if (closed) return Promise.reject(new Error('the analysis workers are closed'))
      const id = ++next
      const w = pick(ctx.run_id)
      return new Promise((resolve, reject) => {
        // the same progress as in the event loop, once the worker says how many records it read
        pending.set(id, { resolve: (v, records) => { ctx.progress(`${name.replace(/_/g, ' ')} over ${records} usage records`, 0.5); resolve(v) }, reject })
        let ids = held.get(w)
        if (!ids) held.set(w, (ids = new Set()))
        ids.add(id)
        const task: WorkerTask = { id, user_id: ctx.user_id, run_id: ctx.run_id, name, args }
        w.postMessage(task)
      }).finally(() => held.get(w)?.delete(id)) as any
    },
    async close () {
      closed = true
      await Promise.all(workers.map((w) => w.terminate()))
      for (const p of pending.values()) p.reject(new Error('the analysis workers are closed'))
      pending.clear()
    }
  }
}
