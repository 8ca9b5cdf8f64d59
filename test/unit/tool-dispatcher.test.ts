import t from 'tap'
import { createMemoryBus } from '../../src/bus/memory.js'
import { UserExecutionContext, silentLogger } from '../../src/core/context.js'
import { runAgent, type RunLimits } from '../../src/core/engine/agent-runner.js'
import { RunFailure, cancelled } from '../../src/core/engine/failures.js'
import { RunEmitter } from '../../src/core/engine/run-emitter.js'
import type { RunEvent } from '../../src/core/events.js'
import { AgentRegistry, type AgentContext, type AgentModule, type ToolContext } from '../../src/core/registry.js'
import type { EventBatch, Store } from '../../src/store/types.js'
import { runContractViolations } from '../helpers/contract.js'

// the engine's timers are unref()ed (a server keeps the process alive); here nothing else would
const keepAlive = setInterval(() => {}, 60_000)
t.teardown(() => clearInterval(keepAlive))

/** One run's agents on a store that keeps events in an array: runAgent and callTool without a server. */
function harness (mod: AgentModule, limits: Partial<RunLimits> = {}) {
  const events: RunEvent[] = []
  const store = { async appendBatches (batches: readonly EventBatch[]) { for (const b of batches) events.push(...b.events); return new Set<EventBatch>() } } as unknown as Store
  const registry = new AgentRegistry().register(mod)
  const scope = UserExecutionContext.create({ user_id: 'user-1' }).forRun({ run_id: 'run-1', thread_id: 'thread-1', user_id: 'user-1' })
  const emitter = new RunEmitter(scope, { store, bus: createMemoryBus(), log: silentLogger, epoch: 1 })
  const deps = { scope, emitter, registry, content: 'hello', limits: { agentTimeoutMs: 10_000, toolTimeoutMs: 10_000, retryBaseMs: 0, ...limits } }
  const run = async (agent: string, input: Record<string, unknown> = {}) => {
    try {
      return { result: await runAgent(deps, agent, input) as unknown }
    } catch (error) {
      return { error }
    } finally {
      await emitter.settled()
    }
  }
  /** the events of tool calls: type, tool and what matters of data (no ids, timestamps, durations) */
  const toolEvents = () => events.filter((e) => e.type.startsWith('tool_')).map((e) => {
    const { agent_id: _a, agent_name: _n, tool_call_id: _c, timestamp: _t, duration_ms: _d, ...rest } = e.data as Record<string, unknown>
    return { type: e.type, ...rest }
  })
  return { events, run, scope, emitter, toolEvents }
}

/** An agent that makes one tool call and returns what it got, or the error's code and message. */
const oneCall = (name: string, tool: string, args: Record<string, unknown>) => ({
  name,
  description: `calls ${tool}`,
  async run (ctx: AgentContext) {
    try {
      return { got: await ctx.call_tool(tool, args) }
    } catch (err) {
      return { failed: { code: (err as RunFailure).code ?? null, message: (err as Error).message, isRunFailure: err instanceof RunFailure } }
    }
  }
})

const deferred = <T = void>() => {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((_resolve) => { resolve = _resolve })
  return { promise, resolve }
}

t.test('a successful call: the tool gets validated args with defaults, the event keeps what the agent sent', async (t) => {
  const seen: Array<{ args: unknown, ctx: Record<string, unknown> }> = []
  const sent = { text: 'hi' }
  const h = harness({
    tools: [{
      name: 'repeat',
      description: 'repeats text',
      input_schema: { type: 'object', properties: { text: { type: 'string' }, times: { type: 'integer', default: 2 } }, required: ['text'] },
      execute (args: { text: string, times: number }, ctx: ToolContext) {
        seen.push({ args: structuredClone(args), ctx: { user_id: ctx.user_id, run_id: ctx.run_id, frozen: Object.isFrozen(ctx), aborted: ctx.signal.aborted } })
        return { text: args.text.repeat(args.times) }
      }
    }],
    agents: [oneCall('agent', 'repeat', sent)]
  })
  const { result } = await h.run('agent')
  t.strictSame(result, { got: { text: 'hihi' } })
  t.strictSame(seen, [{ args: { text: 'hi', times: 2 }, ctx: { user_id: 'user-1', run_id: 'run-1', frozen: true, aborted: false } }])
  t.strictSame(sent, { text: 'hi' }, 'the agent\'s own object is not touched')
  t.strictSame(h.toolEvents(), [
    { type: 'tool_executing', tool_name: 'repeat', parameters: { text: 'hi' } },
    { type: 'tool_completed', tool_name: 'repeat', status: 'success', result: { text: 'hihi' } }
  ])
  t.strictSame(runContractViolations([...h.events, { type: 'run_completed', seq: h.events.length + 1, run_id: 'run-1', thread_id: 'thread-1', user_id: 'user-1', data: { result, timestamp: 1 } }]), [])
  const [executing, completed] = h.events.filter((e) => e.type.startsWith('tool_')).map((e) => e.data as { tool_call_id: string, agent_id: string, duration_ms?: number })
  t.equal(executing.tool_call_id, completed.tool_call_id)
  t.equal(executing.agent_id, completed.agent_id)
  t.equal(typeof completed.duration_ms, 'number')
})

t.test('a tool that resolves with undefined completes with result null', async (t) => {
  const h = harness({
    tools: [{ name: 'nothing', description: '', input_schema: { type: 'object' }, execute () { return undefined } }],
    agents: [{ name: 'agent', description: '', async run (ctx: AgentContext) { await ctx.call_tool('nothing', {}); return { done: true } } }]
  })
  t.strictSame(await h.run('agent'), { result: { done: true } })
  t.strictSame(h.toolEvents(), [
    { type: 'tool_executing', tool_name: 'nothing', parameters: {} },
    { type: 'tool_completed', tool_name: 'nothing', status: 'success', result: null }
  ])
})

t.test('arguments that cannot be cloned are sent as their JSON', async (t) => {
  const seen: unknown[] = []
  const h = harness({
    tools: [{ name: 'keep', description: '', input_schema: { type: 'object' }, execute (args: unknown) { seen.push(args); return { ok: true } } }],
    agents: [oneCall('agent', 'keep', { a: 1, f: () => 2 })]
  })
  t.strictSame(await h.run('agent'), { result: { got: { ok: true } } })
  t.strictSame(seen, [{ a: 1 }])
  t.strictSame(h.toolEvents()[0], { type: 'tool_executing', tool_name: 'keep', parameters: { a: 1 } })
})

t.test('invalid arguments: tool_completed error invalid_arguments, the tool never runs, the agent gets a RunFailure', async (t) => {
  let ran = 0
  const h = harness({
    tools: [{
      name: 'echo',
      description: '',
      input_schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false },
      execute () { ran++; return {} }
    }],
    agents: [oneCall('wrong_type', 'echo', { text: 42 }), oneCall('missing', 'echo', {})]
  })
  t.strictSame(await h.run('wrong_type'), { result: { failed: { code: 'invalid_arguments', message: 'echo: /text must be string', isRunFailure: true } } })
  t.strictSame(await h.run('missing'), { result: { failed: { code: 'invalid_arguments', message: 'echo: / must have required property \'text\'', isRunFailure: true } } })
  t.equal(ran, 0)
  t.strictSame(h.toolEvents(), [
    { type: 'tool_executing', tool_name: 'echo', parameters: { text: 42 } },
    { type: 'tool_completed', tool_name: 'echo', status: 'error', error: { code: 'invalid_arguments', message: 'echo: /text must be string' } },
    { type: 'tool_executing', tool_name: 'echo', parameters: {} },
    { type: 'tool_completed', tool_name: 'echo', status: 'error', error: { code: 'invalid_arguments', message: 'echo: / must have required property \'text\'' } }
  ])
})

t.test('an agent that lets invalid_arguments through is not retried: it is a validation error', async (t) => {
  const h = harness({
    tools: [{ name: 'echo', description: '', input_schema: { type: 'object', required: ['text'] }, execute () { return {} } }],
    agents: [{ name: 'careless', description: '', max_attempts: 3, async run (ctx: AgentContext) { return await ctx.call_tool('echo', {}) } }]
  })
  const { error } = await h.run('careless')
  t.ok(error instanceof RunFailure)
  t.equal((error as RunFailure).code, 'invalid_arguments')
  t.strictSame(h.events.filter((e) => e.type === 'agent_error').map((e) => [(e.data as { attempt: number }).attempt, (e.data as { retryable: boolean }).retryable]), [[1, false]])
})

t.test('an unknown tool: tool_completed error unknown_tool', async (t) => {
  const h = harness({ agents: [oneCall('agent', 'nope', { q: 1 })] })
  t.strictSame(await h.run('agent'), { result: { failed: { code: 'unknown_tool', message: 'no tool named "nope"', isRunFailure: true } } })
  t.strictSame(h.toolEvents(), [
    { type: 'tool_executing', tool_name: 'nope', parameters: { q: 1 } },
    { type: 'tool_completed', tool_name: 'nope', status: 'error', error: { code: 'unknown_tool', message: 'no tool named "nope"' } }
  ])
})

t.test('a throwing tool: status error; the agent gets the tool\'s own error', async (t) => {
  const coded = Object.assign(new Error('the upstream is down'), { code: 'upstream_down' })
  const h = harness({
    tools: [
      { name: 'plain', description: '', input_schema: { type: 'object' }, execute () { throw new Error('kaboom') } },
      { name: 'coded', description: '', input_schema: { type: 'object' }, async execute () { throw coded } },
      { name: 'odd', description: '', input_schema: { type: 'object' }, execute () { throw Object.assign(new Error(''), { code: 'Not A Code' }) } }
    ],
    agents: [oneCall('a1', 'plain', {}), oneCall('a2', 'coded', {}), oneCall('a3', 'odd', {})]
  })
  t.strictSame(await h.run('a1'), { result: { failed: { code: null, message: 'kaboom', isRunFailure: false } } })
  t.strictSame(await h.run('a2'), { result: { failed: { code: 'upstream_down', message: 'the upstream is down', isRunFailure: false } } })
  t.strictSame(await h.run('a3'), { result: { failed: { code: 'Not A Code', message: '', isRunFailure: false } } })
  t.strictSame(h.toolEvents().filter((e) => e.type === 'tool_completed'), [
    { type: 'tool_completed', tool_name: 'plain', status: 'error', error: { code: 'tool_error', message: 'kaboom' } },
    { type: 'tool_completed', tool_name: 'coded', status: 'error', error: { code: 'upstream_down', message: 'the upstream is down' } },
    { type: 'tool_completed', tool_name: 'odd', status: 'error', error: { code: 'tool_error', message: 'the tool failed' } }
  ])
})

t.test('a result that fails the tool\'s output_schema is an error invalid_result', async (t) => {
  const h = harness({
    tools: [{ name: 'liar', description: '', input_schema: { type: 'object' }, output_schema: { type: 'object', required: ['n'] }, execute () { return { m: 1 } } }],
    agents: [oneCall('agent', 'liar', {})]
  })
  t.strictSame(await h.run('agent'), { result: { failed: { code: 'invalid_result', message: 'liar returned an invalid result', isRunFailure: true } } })
  t.strictSame(h.toolEvents()[1], { type: 'tool_completed', tool_name: 'liar', status: 'error', error: { code: 'invalid_result', message: 'liar returned an invalid result' } })
})

t.test('a stalled tool times out: its own timeout_ms, else the limit; its signal aborts', async (t) => {
  const signals: AbortSignal[] = []
  const stall = (name: string, timeout_ms?: number) => ({
    name,
    description: '',
    input_schema: { type: 'object' },
    ...(timeout_ms ? { timeout_ms } : {}),
    execute (_args: unknown, ctx: ToolContext) { signals.push(ctx.signal); return new Promise(() => {}) }
  })
  const h = harness({ tools: [stall('own', 30), stall('limited')], agents: [oneCall('a1', 'own', {}), oneCall('a2', 'limited', {})] }, { toolTimeoutMs: 20 })
  t.strictSame(await h.run('a1'), { result: { failed: { code: 'timeout', message: 'tool own timed out after 30 ms', isRunFailure: true } } })
  t.strictSame(await h.run('a2'), { result: { failed: { code: 'timeout', message: 'tool limited timed out after 20 ms', isRunFailure: true } } })
  t.strictSame(h.toolEvents().filter((e) => e.type === 'tool_completed'), [
    { type: 'tool_completed', tool_name: 'own', status: 'timeout', error: { code: 'timeout', message: 'tool own timed out after 30 ms' } },
    { type: 'tool_completed', tool_name: 'limited', status: 'timeout', error: { code: 'timeout', message: 'tool limited timed out after 20 ms' } }
  ])
  t.strictSame(signals.map((s) => s.aborted), [true, true])
})

t.test('a cancelled run: the running tool completes cancelled, a later call fails at once without events', async (t) => {
  const started = deferred()
  let toolSignal: AbortSignal | undefined
  let second: unknown
  const h = harness({
    tools: [
      { name: 'stall', description: '', input_schema: { type: 'object' }, execute (_a: unknown, ctx: ToolContext) { toolSignal = ctx.signal; started.resolve(); return new Promise(() => {}) } },
      { name: 'echo', description: '', input_schema: { type: 'object' }, execute () { return {} } }
    ],
    agents: [{
      name: 'stubborn',
      description: '',
      max_attempts: 3,
      async run (ctx: AgentContext) {
        try { await ctx.call_tool('stall', {}) } catch {}
        try { await ctx.call_tool('echo', {}) } catch (err) { second = err }
        return { never: 'seen' }
      }
    }]
  })
  const running = h.run('stubborn')
  await started.promise
  h.scope.abort(cancelled('cancelled by the test'))
  const { error } = await running
  const reason = { code: 'cancelled', message: 'cancelled by the test' }
  t.ok(error instanceof RunFailure)
  t.strictSame({ code: (error as RunFailure).code, message: (error as Error).message }, reason)
  t.equal(second, error, 'the later call throws the cancel reason')
  t.equal(toolSignal!.aborted, true)
  t.strictSame(h.toolEvents(), [
    { type: 'tool_executing', tool_name: 'stall', parameters: {} },
    { type: 'tool_completed', tool_name: 'stall', status: 'cancelled', error: reason }
  ])
  t.strictSame(h.events.map((e) => e.type), ['agent_started', 'tool_executing', 'tool_completed', 'agent_error'])
  t.strictSame((h.events[3].data as { error: unknown, retryable: boolean }), { ...h.events[3].data, error: reason, retryable: false }, 'a cancel is never retried')
})

t.test('progress: a fraction in 0..1 is kept, anything else dropped, nothing after the call is aborted', async (t) => {
  const h = harness({
    tools: [{
      name: 'busy',
      description: '',
      input_schema: { type: 'object' },
      timeout_ms: 20,
      async execute (_a: unknown, ctx: ToolContext) {
        ctx.progress('start', 0)
        ctx.progress('half', 0.5)
        ctx.progress('over', 1.5)
        ctx.progress('under', -0.1)
        ctx.progress('text', 'half' as unknown as number)
        ctx.progress('done', 1)
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
        ctx.progress('after the timeout', 1)
        return {}
      }
    }],
    agents: [oneCall('agent', 'busy', {})]
  })
  await h.run('agent')
  t.strictSame(h.toolEvents().filter((e) => e.type === 'tool_progress'), [
    { type: 'tool_progress', tool_name: 'busy', message: 'start', progress: 0 },
    { type: 'tool_progress', tool_name: 'busy', message: 'half', progress: 0.5 },
    { type: 'tool_progress', tool_name: 'busy', message: 'over' },
    { type: 'tool_progress', tool_name: 'busy', message: 'under' },
    { type: 'tool_progress', tool_name: 'busy', message: 'text' },
    { type: 'tool_progress', tool_name: 'busy', message: 'done', progress: 1 }
  ])
  t.equal(h.events.at(-1)!.type, 'agent_completed')
})

t.test('progress and thoughts that come after their call or attempt ended are dropped, never thrown', async (t) => {
  let toolCtx: ToolContext | undefined
  let agentCtx: AgentContext | undefined
  const h = harness({
    tools: [{ name: 'quick', description: '', input_schema: { type: 'object' }, execute (_a: unknown, ctx: ToolContext) { toolCtx = ctx; return { ok: true } } }],
    agents: [{
      name: 'agent',
      description: '',
      async run (ctx: AgentContext) {
        agentCtx = ctx
        await ctx.call_tool('quick', {})
        toolCtx!.progress('late, the call is over', 0.9)
        ctx.think('in time')
        return { ok: true }
      }
    }]
  })
  t.strictSame(await h.run('agent'), { result: { ok: true } })
  t.doesNotThrow(() => toolCtx!.progress('later still', 1))
  t.doesNotThrow(() => agentCtx!.think('the attempt is over'))
  await h.emitter.settled()
  t.strictSame(h.events.map((e) => e.type), ['agent_started', 'tool_executing', 'tool_completed', 'agent_thinking', 'agent_completed'])
  t.equal((h.events[3].data as { thought: string }).thought, 'in time')
})

t.test('the agent runner: input checked before any event, output_schema, a fresh agent object per run', async (t) => {
  const h = harness({
    agents: [{
      name: 'strict',
      description: '',
      input_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
      output_schema: { type: 'object', required: ['doubled'] },
      async run (_ctx: AgentContext, input: { n: number }) { return input.n > 0 ? { doubled: input.n * 2 } : { wrong: true } }
    }, {
      name: 'counter',
      description: '',
      async run (this: { calls?: number }) { this.calls = (this.calls ?? 0) + 1; return { calls: this.calls } }
    }]
  })
  const bad = await h.run('strict', { n: 'x' })
  t.ok(bad.error instanceof RunFailure)
  t.strictSame({ code: (bad.error as RunFailure).code, message: (bad.error as Error).message }, { code: 'invalid_request', message: 'input for strict: must be integer' })
  t.equal(h.events.length, 0, 'no event for a refused input')
  t.strictSame(await h.run('strict', { n: 2 }), { result: { doubled: 4 } })
  const wrong = await h.run('strict', { n: 0 })
  t.strictSame({ code: (wrong.error as RunFailure).code, message: (wrong.error as Error).message }, { code: 'invalid_result', message: 'agent strict result: must have required property \'doubled\'' })
  t.strictSame(await h.run('counter'), { result: { calls: 1 } })
  t.strictSame(await h.run('counter'), { result: { calls: 1 } }, 'state on `this` is not shared between runs')
  const unknown = await h.run('ghost')
  t.strictSame({ code: (unknown.error as RunFailure).code, message: (unknown.error as Error).message }, { code: 'unknown_agent', message: 'no agent named "ghost"' })
})
