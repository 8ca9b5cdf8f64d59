import t from 'tap'
import { AgentRegistry, RegistryError, defineAgent, defineTool, type AgentDefinition, type AgentModule } from '../../src/core/registry.js'

const tool = (name: string, extra: Record<string, unknown> = {}) => ({
  name, description: `the ${name} tool`, input_schema: { type: 'object' }, execute () { return {} }, ...extra
})
const agent = (name: string, extra: Record<string, unknown> = {}) => ({
  name, description: `the ${name} agent`, run () { return { ok: true } }, ...extra
})
const flow = (name: string, steps: unknown) => ({ name, description: 'a workflow', workflow: { steps } }) as unknown as AgentDefinition

/** The RegistryError message registering `mod` (after `before`) throws; fails the test if it does not throw. */
function refusal (t: Tap, mod: unknown, before?: AgentModule): string {
  const registry = new AgentRegistry()
  if (before) registry.register(before)
  try {
    registry.register(mod as AgentModule, 'mod.mjs')
  } catch (err) {
    t.ok(err instanceof RegistryError, 'a RegistryError')
    return (err as Error).message
  }
  t.fail('register did not throw')
  return ''
}
interface Tap { ok (v: unknown, m: string): boolean, fail (m: string): boolean }

t.test('register: agents and tools are found by name and listed in order', async (t) => {
  const registry = new AgentRegistry()
    .register({ tools: [tool('lookup')], agents: [agent('first'), agent('second', { input_schema: { type: 'object', required: ['q'] } })] })
    .register({ agents: [flow('pipeline', [{ id: 'a', agent: 'first' }, { id: 'b', agent: 'second', depends_on: ['a'] }])] })
  t.strictSame(registry.list(), [
    { name: 'first', description: 'the first agent', input_schema: { type: 'object' } },
    { name: 'second', description: 'the second agent', input_schema: { type: 'object', required: ['q'] } },
    { name: 'pipeline', description: 'a workflow', input_schema: { type: 'object' } }
  ])
  t.strictSame(registry.tools().map((x) => x.name), ['lookup'])
  t.equal(registry.tool('lookup')!.description, 'the lookup tool')
  t.equal(registry.tool('nope'), undefined)
  t.equal(registry.agent('nope'), undefined)
  t.equal(registry.agent('first')!.validateInput, undefined, 'no input_schema: no input check')
  t.equal(registry.agent('second')!.validateInput!({}), false)
  t.equal(registry.agent('second')!.validateInput!({ q: 1 }), true)
  t.strictSame(new AgentRegistry().register({}).list(), [], 'an empty module is fine')
})

t.test('a tool without input_schema accepts any object; a schema\'s defaults are applied', async (t) => {
  const registry = new AgentRegistry().register({
    tools: [
      { name: 'loose', description: '', execute () { return 1 } } as never,
      tool('defaults', { input_schema: { type: 'object', properties: { n: { type: 'integer', default: 5 } } } })
    ]
  })
  t.equal(registry.tool('loose')!.validate({ any: 'thing' }), true)
  t.equal(registry.tool('loose')!.validate('a string'), false)
  const args: Record<string, unknown> = {}
  t.equal(registry.tool('defaults')!.validate(args), true)
  t.strictSame(args, { n: 5 })
})

t.test('defineAgent and defineTool return what they are given', async (t) => {
  const a = agent('typed')
  const x = tool('typed')
  t.equal(defineAgent(a), a)
  t.equal(defineTool(x), x)
})

t.test('duplicate names are refused, within a module and across modules', async (t) => {
  t.equal(refusal(t, { agents: [agent('twin'), agent('twin')] }), 'mod.mjs: agent "twin": the name is already registered')
  t.equal(refusal(t, { tools: [tool('twin'), tool('twin')] }), 'mod.mjs: tool "twin": the name is already registered')
  t.equal(refusal(t, { agents: [agent('supervisor')] }, { agents: [agent('supervisor')] }), 'mod.mjs: agent "supervisor": the name is already registered')
  t.equal(refusal(t, { tools: [tool('lookup')] }, { tools: [tool('lookup')] }), 'mod.mjs: tool "lookup": the name is already registered')
  // an agent and a tool live in different namespaces
  t.strictSame(new AgentRegistry().register({ agents: [agent('same')], tools: [tool('same')] }).list().map((a) => a.name), ['same'])
})

t.test('invalid definitions are refused with a message naming the module and the definition', async (t) => {
  const nameRule = 'name must match /^[a-z][a-z0-9_-]{0,63}$/i'
  t.equal(refusal(t, null), 'mod.mjs: the default export must be { agents?, tools? }')
  t.equal(refusal(t, 'agents'), 'mod.mjs: the default export must be { agents?, tools? }')
  t.equal(refusal(t, { agents: agent('single') }), 'mod.mjs: the default export must be { agents?, tools? }')
  t.equal(refusal(t, { tools: 'lookup' }), 'mod.mjs: the default export must be { agents?, tools? }')
  t.equal(refusal(t, { agents: [null] }), `mod.mjs: agent undefined: ${nameRule}`)
  t.equal(refusal(t, { agents: [agent('1abc')] }), `mod.mjs: agent "1abc": ${nameRule}`)
  t.equal(refusal(t, { agents: [agent('has space')] }), `mod.mjs: agent "has space": ${nameRule}`)
  t.equal(refusal(t, { agents: [agent('x'.repeat(65))] }), `mod.mjs: agent "${'x'.repeat(65)}": ${nameRule}`)
  t.equal(refusal(t, { tools: [tool('')] }), `mod.mjs: tool "": ${nameRule}`)
  t.equal(refusal(t, { agents: [agent('nodesc', { description: undefined })] }), 'mod.mjs: agent "nodesc": description must be a string')
  t.equal(refusal(t, { tools: [tool('nodesc', { description: 3 })] }), 'mod.mjs: tool "nodesc": description must be a string')
  t.equal(refusal(t, { tools: [tool('noexec', { execute: 'go' })] }), 'mod.mjs: tool "noexec": execute must be a function')
  t.equal(refusal(t, { agents: [agent('hollow', { run: undefined })] }), 'mod.mjs: agent "hollow": needs exactly one of run() or workflow')
  t.equal(refusal(t, { agents: [agent('both', { workflow: { steps: [{ id: 'a', agent: 'x' }] } })] }), 'mod.mjs: agent "both": needs exactly one of run() or workflow')
  t.equal(refusal(t, { agents: [agent('notfn', { run: 'go' })] }), 'mod.mjs: agent "notfn": needs exactly one of run() or workflow')
})

t.test('an invalid JSON schema is refused when the module loads, not when it runs', async (t) => {
  const bad = { type: 'object', properties: { n: { type: 'integr' } } }
  const schemaError = 'schema is invalid: data/properties/n/type must be equal to one of the allowed values, data/properties/n/type must be array, data/properties/n/type must match a schema in anyOf'
  t.equal(refusal(t, { tools: [tool('t1', { input_schema: bad })] }), `mod.mjs: tool "t1" input_schema: ${schemaError}`)
  t.equal(refusal(t, { tools: [tool('t2', { output_schema: bad })] }), `mod.mjs: tool "t2" output_schema: ${schemaError}`)
  t.equal(refusal(t, { agents: [agent('a1', { input_schema: bad })] }), `mod.mjs: agent "a1" input_schema: ${schemaError}`)
  t.equal(refusal(t, { agents: [agent('a2', { output_schema: bad })] }), `mod.mjs: agent "a2" output_schema: ${schemaError}`)
})

t.test('timeout_ms and max_attempts bounds', async (t) => {
  const timeoutRule = 'timeout_ms must be a positive number of milliseconds'
  for (const bad of [0, -1, '100', 24 * 3_600_000 + 1, Number.NaN]) {
    t.equal(refusal(t, { agents: [agent('a', { timeout_ms: bad })] }), `mod.mjs: agent "a": ${timeoutRule}`, `agent timeout_ms ${bad}`)
    t.equal(refusal(t, { tools: [tool('x', { timeout_ms: bad })] }), `mod.mjs: tool "x": ${timeoutRule}`, `tool timeout_ms ${bad}`)
  }
  for (const bad of [0, 11, 1.5, -1, '3']) {
    t.equal(refusal(t, { agents: [agent('a', { max_attempts: bad })] }), 'mod.mjs: agent "a": max_attempts must be an integer 1..10', `max_attempts ${bad}`)
  }
  const ok = new AgentRegistry().register({
    agents: [agent('min', { max_attempts: 1, timeout_ms: 1 }), agent('max', { max_attempts: 10, timeout_ms: 24 * 3_600_000 })],
    tools: [tool('fast', { timeout_ms: 0.5 })]
  })
  t.strictSame(ok.list().map((a) => a.name), ['min', 'max'])
  t.equal(ok.agent('max')!.definition.max_attempts, 10)
})

t.test('workflow steps: non-empty, unique ids, an agent each, known dependencies, no cycle', async (t) => {
  const where = 'mod.mjs: agent "wf"'
  t.equal(refusal(t, { agents: [flow('wf', [])] }), `${where}: workflow.steps must be a non-empty array`)
  t.equal(refusal(t, { agents: [flow('wf', 'a then b')] }), `${where}: workflow.steps must be a non-empty array`)
  t.equal(refusal(t, { agents: [flow('wf', [{ id: 'a', agent: 'x' }, { id: 'a', agent: 'y' }])] }), `${where}: step ids must be unique strings`)
  t.equal(refusal(t, { agents: [flow('wf', [{ id: 1, agent: 'x' }])] }), `${where}: step ids must be unique strings`)
  t.equal(refusal(t, { agents: [flow('wf', [null])] }), `${where}: step ids must be unique strings`)
  t.equal(refusal(t, { agents: [flow('wf', [{ id: 'a' }])] }), `${where}: step "a" needs an agent`)
  t.equal(refusal(t, { agents: [flow('wf', [{ id: 'a', agent: 'x', depends_on: ['z'] }])] }), `${where}: step "a" depends on unknown step "z"`)
  t.equal(refusal(t, { agents: [flow('wf', [{ id: 'a', agent: 'x' }, { id: 'b', agent: 'x', depends_on: 'a' }])] }), `${where}: step "b": depends_on must be an array of step ids`)
  t.equal(refusal(t, { agents: [flow('wf', [{ id: 'a', agent: 'x', depends_on: [1] }])] }), `${where}: step "a": depends_on must be an array of step ids`)
  t.equal(refusal(t, { agents: [flow('wf', [{ id: 'a', agent: 'x', depends_on: ['a'] }])] }), `${where}: workflow steps form a cycle`)
  t.equal(refusal(t, {
    agents: [flow('wf', [
      { id: 'start', agent: 'x' },
      { id: 'a', agent: 'x', depends_on: ['start', 'c'] },
      { id: 'b', agent: 'x', depends_on: ['a'] },
      { id: 'c', agent: 'x', depends_on: ['b'] }
    ])]
  }), `${where}: workflow steps form a cycle`)
  // steps listed before the steps they depend on are fine
  t.strictSame(new AgentRegistry().register({
    agents: [agent('x'), flow('wf', [{ id: 'd', agent: 'x', depends_on: ['b', 'c'] }, { id: 'b', agent: 'x', depends_on: ['a'] }, { id: 'c', agent: 'x', depends_on: ['a'] }, { id: 'a', agent: 'x' }])]
  }).list().map((a) => a.name), ['x', 'wf'])
})

t.test('load: a step or fallback naming an unknown agent is refused once every module is in', async (t) => {
  const steps = [{ id: 'a', agent: 'later' }, { id: 'b', agent: 'later', depends_on: ['a'], fallback: 'rescue' }]
  const registry = new AgentRegistry().register({ agents: [flow('wf', steps)] }, 'first.mjs').register({ agents: [agent('later')] }, 'second.mjs')
  const err = await registry.load([]).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof RegistryError)
  t.equal((err as Error).message, 'agent "wf": step "b" names unknown agent "rescue"')

  registry.register({ agents: [agent('rescue')] })
  t.equal(await registry.load([]), registry, 'with every agent present the same registry loads')

  const missing = await new AgentRegistry().register({ agents: [flow('solo', [{ id: 'only', agent: 'ghost' }])] }).load([]).then(() => undefined, (e: unknown) => e)
  t.equal((missing as Error).message, 'agent "solo": step "only" names unknown agent "ghost"')
})

t.test('load: module paths are relative to the working directory given', async (t) => {
  const registry = await new AgentRegistry().load(['./fixtures/bad-agents.mjs'], new URL('..', import.meta.url).pathname)
  t.equal(registry.agent('good')!.definition.description, 'Answers ok.')
  t.strictSame(registry.tools().map((x) => x.name), ['echo', 'exploder', 'staller'])
  const err = await new AgentRegistry().load(['./fixtures/bad-agents.mjs'], '/nowhere').then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof RegistryError)
  t.equal((err as Error).message.startsWith('AGENT_MODULES: cannot load ./fixtures/bad-agents.mjs: '), true, (err as Error).message)
})

t.test('instantiate gives a fresh object each time, so state on `this` is never shared', async (t) => {
  const definition = {
    name: 'stateful',
    description: '',
    calls: 0,
    run (this: { calls: number }) { this.calls++; return { calls: this.calls } }
  }
  const registry = new AgentRegistry().register({ agents: [definition] })
  const one = registry.instantiate('stateful') as unknown as typeof definition
  const two = registry.instantiate('stateful') as unknown as typeof definition
  t.not(one, two)
  t.not(one, definition)
  t.strictSame(one.run(), { calls: 1 })
  t.strictSame(one.run(), { calls: 2 })
  t.strictSame(two.run(), { calls: 1 })
  t.equal(definition.calls, 0, 'the registered definition is untouched')
  t.equal(registry.instantiate('stateful')!.name, 'stateful')
  t.equal(registry.instantiate('nope'), undefined)
})
