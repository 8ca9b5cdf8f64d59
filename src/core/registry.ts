import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Ajv, type ValidateFunction } from 'ajv'
import type { Logger } from './context.js'

/** A JSON Schema object as a module author writes it (plain JSON, no agentwire import needed). */
export type JsonSchema = Record<string, unknown>

/** What a tool's `execute` gets (CONTRACT §6). */
export interface ToolContext {
  readonly user_id: string
  readonly run_id: string
  readonly signal: AbortSignal
  progress (message: string, fraction?: number): void
}

/** What an agent's `run` gets, one per attempt, bound to one user and one run (CONTRACT §6). */
export interface AgentContext {
  readonly user_id: string
  readonly thread_id: string
  readonly run_id: string
  readonly agent_id: string
  /** the user's message */
  readonly content: string
  readonly signal: AbortSignal
  readonly log: Logger
  think (text: string): void
  /** the next piece of the run's final answer, as it is written (`answer_delta`) */
  stream (text: string): void
  /**
   * Asks the user and waits (`input_requested`, the run `waiting`); resolves with the answer, which
   * met `schema` (default: a string), or with `default` when `expires_in_s` passed without one.
   */
  ask<R = any>(q: AskOptions): Promise<R>
  call_tool<R = any>(name: string, args: Record<string, unknown>): Promise<R>
  call_agent<R = any>(name: string, input?: Record<string, unknown>): Promise<R>
}

/** What `ctx.ask` takes. */
export interface AskOptions {
  question: string
  /** the JSON Schema the answer must meet; default `{ type: 'string' }` */
  schema?: JsonSchema
  /** default 3600, at most 604800 */
  expires_in_s?: number
  /** the answer when none came in time (absent: undefined) */
  default?: unknown
}

export interface ToolDefinition<A = any, R = unknown> {
  name: string
  description: string
  input_schema: JsonSchema
  output_schema?: JsonSchema
  timeout_ms?: number
  /** false: a call cut off by a lost process must not run again, so its run fails instead */
  resumable?: boolean
  /** true, or true for these arguments: each call waits for the user's approval first */
  requires_approval?: boolean | ((args: A) => boolean)
  /** the decision when the approval expires unanswered; default `reject` */
  approval_default?: 'approve' | 'reject'
  /** how long an approval waits; default 3600, at most 604800 */
  approval_expires_in_s?: number
  execute (args: A, ctx: ToolContext): Promise<R> | R
}

export interface WorkflowStep {
  id: string
  agent: string
  depends_on?: string[]
  optional?: boolean
  fallback?: string
}

interface AgentBase {
  name: string
  description: string
  input_schema?: JsonSchema
  output_schema?: JsonSchema
  timeout_ms?: number
  max_attempts?: number
  /** false: an attempt cut off by a lost process must not run again, so its run fails instead */
  resumable?: boolean
}
export interface RunAgentDefinition<I = any, R = unknown> extends AgentBase {
  run (ctx: AgentContext, input: I): Promise<R> | R
  workflow?: undefined
}
export interface WorkflowAgentDefinition extends AgentBase {
  workflow: { steps: WorkflowStep[] }
  run?: undefined
}
export type AgentDefinition = RunAgentDefinition | WorkflowAgentDefinition

export interface AgentModule { agents?: AgentDefinition[], tools?: ToolDefinition[] }

/** Identity functions that only type a definition; a module may equally export plain objects. */
export const defineTool = <A = any, R = unknown>(t: ToolDefinition<A, R>) => t
export const defineAgent = <I = any, R = unknown>(a: RunAgentDefinition<I, R> | WorkflowAgentDefinition) => a

export class RegistryError extends Error {
  override name = 'RegistryError'
}

const NAME = /^[a-z][a-z0-9_-]{0,63}$/i

/** an interrupt waits at most a week, an hour by default */
export const MAX_EXPIRES_IN_S = 604_800
export const DEFAULT_EXPIRES_IN_S = 3600
export const validExpiry = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_EXPIRES_IN_S

export interface RegisteredTool extends ToolDefinition {
  validate: ValidateFunction
  validateOutput?: ValidateFunction
}
export interface RegisteredAgent {
  definition: AgentDefinition
  validateInput?: ValidateFunction
  validateOutput?: ValidateFunction
}

/** The agents and tools this process can run: built-ins plus AGENT_MODULES. */
export class AgentRegistry {
  readonly #agents = new Map<string, RegisteredAgent>()
  readonly #tools = new Map<string, RegisteredTool>()
  readonly #ajv = new Ajv({ allErrors: false, strict: false, useDefaults: true })

  register (mod: AgentModule, source = 'built-in'): this {
    const where = (kind: string, name: unknown) => `${source}: ${kind} ${JSON.stringify(name)}`
    const list = (v: unknown) => v === undefined || Array.isArray(v)
    if (mod === null || typeof mod !== 'object' || !list(mod.agents) || !list(mod.tools)) {
      throw new RegistryError(`${source}: the default export must be { agents?, tools? }`)
    }
    for (const t of mod.tools ?? []) {
      if (!t || typeof t.name !== 'string' || !NAME.test(t.name)) throw new RegistryError(`${where('tool', t?.name)}: name must match ${NAME}`)
      if (this.#tools.has(t.name)) throw new RegistryError(`${where('tool', t.name)}: the name is already registered`)
      if (typeof t.execute !== 'function') throw new RegistryError(`${where('tool', t.name)}: execute must be a function`)
      if (typeof t.description !== 'string') throw new RegistryError(`${where('tool', t.name)}: description must be a string`)
      this.#checkTimeout(t.timeout_ms, where('tool', t.name))
      if (t.resumable !== undefined && typeof t.resumable !== 'boolean') throw new RegistryError(`${where('tool', t.name)}: resumable must be a boolean`)
      if (t.requires_approval !== undefined && typeof t.requires_approval !== 'boolean' && typeof t.requires_approval !== 'function') {
        throw new RegistryError(`${where('tool', t.name)}: requires_approval must be a boolean or a function of the arguments`)
      }
      if (t.approval_default !== undefined && t.approval_default !== 'approve' && t.approval_default !== 'reject') {
        throw new RegistryError(`${where('tool', t.name)}: approval_default must be "approve" or "reject"`)
      }
      if (t.approval_expires_in_s !== undefined && !validExpiry(t.approval_expires_in_s)) {
        throw new RegistryError(`${where('tool', t.name)}: approval_expires_in_s must be a number of seconds in 0..${MAX_EXPIRES_IN_S}`)
      }
      this.#tools.set(t.name, {
        ...t,
        validate: this.#compile(t.input_schema ?? { type: 'object' }, where('tool', t.name) + ' input_schema'),
        validateOutput: t.output_schema ? this.#compile(t.output_schema, where('tool', t.name) + ' output_schema') : undefined
      })
    }
    for (const a of mod.agents ?? []) {
      if (!a || typeof a.name !== 'string' || !NAME.test(a.name)) throw new RegistryError(`${where('agent', a?.name)}: name must match ${NAME}`)
      if (this.#agents.has(a.name)) throw new RegistryError(`${where('agent', a.name)}: the name is already registered`)
      if (typeof a.description !== 'string') throw new RegistryError(`${where('agent', a.name)}: description must be a string`)
      if ((typeof a.run === 'function') === Boolean(a.workflow)) throw new RegistryError(`${where('agent', a.name)}: needs exactly one of run() or workflow`)
      if (a.workflow) this.#checkSteps(a.workflow.steps, where('agent', a.name))
      this.#checkTimeout(a.timeout_ms, where('agent', a.name))
      if (a.resumable !== undefined && typeof a.resumable !== 'boolean') throw new RegistryError(`${where('agent', a.name)}: resumable must be a boolean`)
      if (a.max_attempts !== undefined && !(Number.isInteger(a.max_attempts) && a.max_attempts >= 1 && a.max_attempts <= 10)) {
        throw new RegistryError(`${where('agent', a.name)}: max_attempts must be an integer 1..10`)
      }
      this.#agents.set(a.name, {
        definition: a,
        validateInput: a.input_schema ? this.#compile(a.input_schema, where('agent', a.name) + ' input_schema') : undefined,
        validateOutput: a.output_schema ? this.#compile(a.output_schema, where('agent', a.name) + ' output_schema') : undefined
      })
    }
    return this
  }

  /** Loads AGENT_MODULES (paths relative to cwd); any failure stops the start with a clear message. */
  async load (paths: readonly string[], cwd = process.cwd()): Promise<this> {
    for (const p of paths) {
      const file = path.resolve(cwd, p)
      let mod: { default?: AgentModule }
      try {
        mod = await import(pathToFileURL(file).href)
      } catch (err) {
        throw new RegistryError(`AGENT_MODULES: cannot load ${p}: ${(err as Error).message}`)
      }
      this.register(mod.default as AgentModule, `AGENT_MODULES ${p}`)
    }
    // workflow steps may name agents from any module, so check them once everything is in
    for (const { definition } of this.#agents.values()) {
      for (const s of definition.workflow?.steps ?? []) {
        for (const name of [s.agent, s.fallback].filter(Boolean) as string[]) {
          if (!this.#agents.has(name)) throw new RegistryError(`agent "${definition.name}": step "${s.id}" names unknown agent "${name}"`)
        }
      }
    }
    return this
  }

  agent (name: string): RegisteredAgent | undefined { return this.#agents.get(name) }
  tool (name: string): RegisteredTool | undefined { return this.#tools.get(name) }

  /** A fresh agent object for one run: state an agent keeps on `this` is never shared. */
  instantiate (name: string): AgentDefinition | undefined {
    const a = this.#agents.get(name)
    return a && { ...a.definition }
  }

  list () {
    return [...this.#agents.values()].map(({ definition: a }) => ({
      name: a.name,
      description: a.description,
      input_schema: a.input_schema ?? { type: 'object' }
    }))
  }

  tools () { return [...this.#tools.values()] }

  #compile (schema: JsonSchema, where: string): ValidateFunction {
    try {
      return this.#ajv.compile(schema)
    } catch (err) {
      throw new RegistryError(`${where}: ${(err as Error).message}`)
    }
  }

  #checkTimeout (v: unknown, where: string) {
    if (v !== undefined && !(typeof v === 'number' && v > 0 && v <= 24 * 3_600_000)) {
      throw new RegistryError(`${where}: timeout_ms must be a positive number of milliseconds`)
    }
  }

  #checkSteps (steps: unknown, where: string) {
    if (!Array.isArray(steps) || steps.length === 0) throw new RegistryError(`${where}: workflow.steps must be a non-empty array`)
    const ids = new Set<string>()
    for (const s of steps as WorkflowStep[]) {
      if (!s || typeof s.id !== 'string' || ids.has(s.id)) throw new RegistryError(`${where}: step ids must be unique strings`)
      if (typeof s.agent !== 'string') throw new RegistryError(`${where}: step "${s.id}" needs an agent`)
      if (s.depends_on !== undefined && !(Array.isArray(s.depends_on) && s.depends_on.every((d) => typeof d === 'string'))) {
        throw new RegistryError(`${where}: step "${s.id}": depends_on must be an array of step ids`)
      }
      ids.add(s.id)
    }
    for (const s of steps as WorkflowStep[]) {
      for (const d of s.depends_on ?? []) {
        if (!ids.has(d)) throw new RegistryError(`${where}: step "${s.id}" depends on unknown step "${d}"`)
      }
    }
    // a cycle would never start; refuse it now
    const done = new Set<string>()
    let progress = true
    while (progress) {
      progress = false
      for (const s of steps as WorkflowStep[]) {
        if (!done.has(s.id) && (s.depends_on ?? []).every((d) => done.has(d))) { done.add(s.id); progress = true }
      }
    }
    if (done.size !== ids.size) throw new RegistryError(`${where}: workflow steps form a cycle`)
  }
}
