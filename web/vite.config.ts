import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// The chat page: web/index.html and web/src/ bundled (with @agentwire/client, marked and DOMPurify)
// into web/dist/, which plugins/web.ts serves under its strict CSP (no inline script or style).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // a module preload polyfill would be an inline script, which the CSP refuses
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0
  }
})
