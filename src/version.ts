import { readFileSync } from 'node:fs'

/** The package version, from source (src/) and from the build (dist/src/) alike. */
function readVersion (): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'agentwire' && pkg.version) return pkg.version
    } catch {}
  }
  return '0.0.0'
}

export const VERSION = readVersion()
