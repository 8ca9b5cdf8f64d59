import { readFileSync, renameSync, writeFileSync } from 'node:fs'

/**
 * A start line the bench opens for every run at once, across processes: a file that appears
 * holding `{"start_at": epoch ms}`. Runs wait for it while the bench sets every socket up.
 */
const gates = new Map()

/** Resolves with the gate file's JSON once it exists (one poll per file, however many runs wait). */
export function waitGate (file) {
  let gate = gates.get(file)
  if (!gate) {
    gate = new Promise((resolve) => {
      const timer = setInterval(() => {
        let text
        try { text = readFileSync(file, 'utf8') } catch { return }
        clearInterval(timer)
        resolve(JSON.parse(text))
      }, 5)
      timer.unref()
    })
    gates.set(file, gate)
  }
  return gate
}

/** Opens a gate: written aside, then renamed, so no reader sees half of it. */
export function openGate (file, data) {
  writeFileSync(`${file}.tmp`, JSON.stringify(data))
  renameSync(`${file}.tmp`, file)
}
