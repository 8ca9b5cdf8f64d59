import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'

/**
 * Starts a server as a child process and resolves once it prints "listening on <url>", or with
 * `error` (its last output) if it exits first or stays silent for `timeoutMs`.
 */
export function startChild (name, args, { env = {}, timeoutMs = 60_000 } = {}) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (d) => { out = (out + d).slice(-8000) }
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return new Promise((resolve) => {
    const done = (result) => { clearTimeout(timer); resolve(result) }
    const timer = setTimeout(() => { child.kill('SIGKILL'); done({ name, error: `no "listening on" after ${timeoutMs} ms: ${out.trim().split('\n').slice(-3).join(' | ')}` }) }, timeoutMs)
    let seen = ''
    child.stdout.on('data', (d) => {
      keep(d)
      if (seen === null) return
      seen += d
      const m = /listening on (http:\/\/\S+)/.exec(seen)
      if (m) {
        seen = null
        done({ name, child, pid: child.pid, url: m[1], exited, output: () => out, stop: () => stopChild(child, exited) })
      }
    })
    child.stderr.on('data', keep)
    exited.then(() => done({ name, error: out.trim().split('\n').filter(Boolean).slice(-3).join(' | ') || 'exited' }))
  })
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopChild (child, exited, graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return exited
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  const result = await exited
  clearTimeout(timer)
  return result
}

/** Resident set size of a process, bytes (Linux /proc). */
export function rss (pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

/** CPU time (user + system) a process has used so far, ms (Linux /proc; clock ticks of 10 ms). */
export function cpuMs (pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Samples a process's RSS every `everyMs` until stopped; `stop()` returns the peak. */
export function sampleRss (pid, everyMs = 20) {
  let peak = rss(pid)
  const timer = setInterval(() => { try { peak = Math.max(peak, rss(pid)) } catch {} }, everyMs)
  return { stop () { clearInterval(timer); try { peak = Math.max(peak, rss(pid)) } catch {} return peak } }
}
