import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'

const LLM = { LLM_BASE_URL: 'http://127.0.0.1:9999/v1', LLM_API_KEY: 'sk-secret', LLM_MODEL: 'gpt-4o-mini' }

t.test('without LLM variables there is no model', async (t) => {
  t.equal(loadConfig({}).llm, undefined)
  t.notOk('llm' in loadConfig({}), 'not even an undefined key')
})

t.test('all three LLM variables turn the model on, with a 30 s request timeout by default', async (t) => {
  t.strictSame(loadConfig(LLM).llm, { baseUrl: LLM.LLM_BASE_URL, apiKey: 'sk-secret', model: 'gpt-4o-mini', timeoutMs: 30_000 })
  t.equal(loadConfig({ ...LLM, LLM_TIMEOUT_MS: '1500' }).llm?.timeoutMs, 1500)
})

t.test('setting only some of them stops the start, naming the first one missing', async (t) => {
  for (const missing of Object.keys(LLM) as Array<keyof typeof LLM>) {
    const env: Record<string, string> = { ...LLM }
    delete env[missing]
    t.throws(() => loadConfig(env), new ConfigError(`missing ${missing}: LLM_BASE_URL, LLM_API_KEY and LLM_MODEL are set together, or none of them`))
  }
  t.throws(() => loadConfig({ LLM_MODEL: 'gpt-4o' }), { message: /^missing LLM_BASE_URL: / })
  t.throws(() => loadConfig({ ...LLM, LLM_API_KEY: '' }), { message: /^missing LLM_API_KEY: / }, 'empty is unset')
})

t.test('bad values name the variable', async (t) => {
  t.throws(() => loadConfig({ ...LLM, LLM_BASE_URL: 'ftp://user:secret@x' }), { name: 'ConfigError', message: /^invalid LLM_BASE_URL=<redacted>: / }, 'a url may carry credentials: never echoed')
  t.throws(() => loadConfig({ ...LLM, LLM_TIMEOUT_MS: '2s' }), { message: 'invalid LLM_TIMEOUT_MS="2s": Expected integer' })
  t.throws(() => loadConfig({ ...LLM, LLM_TIMEOUT_MS: '0' }), { message: /^invalid LLM_TIMEOUT_MS=0: / })
})
