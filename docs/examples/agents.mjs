/**
 * The examples of docs/agents.md, as one module you can load:
 *
 *   AGENT_MODULES=./docs/examples/agents.mjs npm start
 *
 * Plain objects, no import from agentwire. Every agent here can be run with
 * POST /messages {"content":"…","agent":"<name>"}.
 */

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep (ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => { clearTimeout(timer); reject(signal.reason) }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

const CITIES = { paris: 2102650, lyon: 522250, lille: 236710 }

/** attempts per run id, so `flaky` fails its first attempt of every run and no other */
const attemptsByRun = new Map()

export default {
  tools: [{
    name: 'population',
    description: 'The population of a French city.',
    input_schema: {
      type: 'object',
      properties: { city: { type: 'string', minLength: 1 } },
      required: ['city'],
      additionalProperties: false
    },
    output_schema: { type: 'object', required: ['city', 'population'] },
    timeout_ms: 5000,
    async execute ({ city }, ctx) {
      ctx.progress(`looking up ${city}`, 0.5)
      await sleep(20, ctx.signal)
      const population = CITIES[city.toLowerCase()]
      if (population === undefined) {
        // a `code` of lower-case letters, digits and _ reaches the client as is
        throw Object.assign(new Error(`no data for ${city}`), { code: 'unknown_city' })
      }
      return { city, population }
    }
  }, {
    name: 'send_invoice',
    description: 'Sends an invoice: a side effect that must not happen twice.',
    input_schema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] },
    resumable: false,
    async execute ({ amount }, ctx) {
      await sleep(20, ctx.signal)
      return { sent: true, amount }
    }
  }],

  agents: [{
    name: 'census',
    description: 'Adds up the population of the cities named in the message.',
    input_schema: {
      type: 'object',
      // no additionalProperties: false, so the agent also works as a workflow step, whose input
      // is { input, content, results }
      properties: { cities: { type: 'array', items: { type: 'string' }, maxItems: 10 } }
    },
    output_schema: { type: 'object', required: ['total'] },
    timeout_ms: 30000,
    async run (ctx, input) {
      const cities = input.cities ?? ctx.content.split(/[\s,]+/).filter(Boolean)
      ctx.think(`Looking up ${cities.length} cities.`)
      let total = 0
      for (const city of cities) {
        try {
          total += (await ctx.call_tool('population', { city })).population
        } catch (err) {
          // the failed call already ended with tool_completed status "error"
          ctx.think(`Skipping ${city}: ${err.message}`)
        }
      }
      return { total, answer: `${total} people` }
    }
  }, {
    name: 'flaky',
    description: 'Fails its first attempt, succeeds on the second.',
    max_attempts: 3,
    async run (ctx) {
      const attempt = (attemptsByRun.get(ctx.run_id) ?? 0) + 1
      attemptsByRun.set(ctx.run_id, attempt)
      if (attempt === 1) throw Object.assign(new Error('the upstream said 503'), { code: 'upstream_unavailable' })
      attemptsByRun.delete(ctx.run_id)
      return { answer: `worked on attempt ${attempt}` }
    }
  }, {
    name: 'editor',
    description: 'Asks census for the numbers, then writes a sentence.',
    async run (ctx) {
      const { total } = await ctx.call_agent('census', { cities: ['Paris', 'Lyon'] })
      ctx.log.info({ total }, 'census done')
      return { answer: `Paris and Lyon hold ${total} people.` }
    }
  }, {
    name: 'biller',
    description: 'Sends one invoice; never run twice.',
    resumable: false,
    async run (ctx) {
      return ctx.call_tool('send_invoice', { amount: 42 })
    }
  }, {
    name: 'slow',
    description: 'Waits up to a minute, honouring its signal (try cancelling it).',
    async run (ctx) {
      for (let i = 1; i <= 60; i++) {
        ctx.think(`second ${i}`)
        await sleep(1000, ctx.signal)
      }
      return { answer: 'done' }
    }
  }, {
    name: 'writer',
    description: 'A workflow step: writes a sentence from the numbers step\'s result.',
    async run (ctx, { results }) {
      return { answer: `The cities hold ${results.numbers.total} people.` }
    }
  }, {
    name: 'broken',
    description: 'Always fails.',
    async run () { throw new Error('this agent always fails') }
  }, {
    name: 'report',
    description: 'A workflow: census first, then three steps in parallel.',
    workflow: {
      steps: [
        { id: 'numbers', agent: 'census' },
        { id: 'prose', agent: 'writer', depends_on: ['numbers'] },
        { id: 'extra', agent: 'broken', depends_on: ['numbers'], optional: true },
        { id: 'check', agent: 'broken', depends_on: ['numbers'], fallback: 'flaky' }
      ]
    }
  }]
}
