import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')

const where = (url) => {
  if (!url) return ''
  const file = url.startsWith('file://') ? fileURLToPath(url) : url
  return file.startsWith(root) ? path.relative(root, file) : file
}

/**
 * Self time of a V8 .cpuprofile, by function and by file, idle time left out: each sample's
 * time delta goes to the node on top of the stack.
 */
export function selfTimes (profileFile) {
  const profile = JSON.parse(readFileSync(profileFile, 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  }
  const byFunction = new Map()
  const byFile = new Map()
  let total = 0
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame
    if (functionName === '(idle)') continue
    total += us
    const file = where(url) || functionName
    const fn = url ? `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}` : functionName
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
    byFile.set(file, (byFile.get(file) ?? 0) + us)
  }
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => ({ name, ms: us / 1000, share: us / total }))
  return { busy_ms: total / 1000, functions: top(byFunction, 10), files: top(byFile, 10) }
}

export function profileMarkdown (t) {
  const rows = (xs) => xs.map((x, i) => `| ${i + 1} | \`${x.name}\` | ${x.ms.toFixed(0)} | ${(x.share * 100).toFixed(1)} % |`).join('\n')
  return [
    `Busy (not idle) CPU time in the server: ${t.busy_ms.toFixed(0)} ms.`,
    '',
    '| # | function (self time) | ms | share |', '| --- | --- | --- | --- |', rows(t.functions),
    '',
    '| # | file (self time) | ms | share |', '| --- | --- | --- | --- |', rows(t.files)
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(profileMarkdown(selfTimes(process.argv[2])))
}
