import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'

/** CONTRACT §5–§4 in code: run events and WebSocket frames. Types are Static<> of these. */

const Id = Type.String({ minLength: 1, maxLength: 128 })
const Json = Type.Unknown()
const ErrorBodySchema = Type.Object({ code: Type.String(), message: Type.String() })
export type ErrorBody = Static<typeof ErrorBodySchema>

const agentFields = {
  agent_id: Id,
  agent_name: Type.String(),
  timestamp: Type.Number()
}
const runFields = { timestamp: Type.Number() }
const toolFields = { ...agentFields, tool_name: Type.String(), tool_call_id: Id }
const InterruptKindSchema = Type.Union([Type.Literal('approval'), Type.Literal('question')])

export const EventDataSchemas = {
  agent_started: Type.Object({ ...agentFields, message: Type.String(), attempt: Type.Integer({ minimum: 1 }), parent_agent_id: Type.Optional(Id), step_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) }),
  agent_thinking: Type.Object({ ...agentFields, thought: Type.String() }),
  tool_executing: Type.Object({ ...toolFields, parameters: Json }),
  tool_progress: Type.Object({ ...toolFields, message: Type.String(), progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })) }),
  tool_completed: Type.Object({
    ...toolFields,
    status: Type.Union([Type.Literal('success'), Type.Literal('error'), Type.Literal('timeout'), Type.Literal('cancelled')]),
    result: Type.Optional(Json),
    error: Type.Optional(ErrorBodySchema),
    duration_ms: Type.Number({ minimum: 0 })
  }),
  agent_completed: Type.Object({
    ...agentFields,
    /** absent on the run's root agent: the run's result travels once, in `run_completed` */
    result: Type.Optional(Json),
    attempt: Type.Integer({ minimum: 1 }),
    duration_ms: Type.Number({ minimum: 0 })
  }),
  agent_error: Type.Object({ ...agentFields, error: ErrorBodySchema, retryable: Type.Boolean(), attempt: Type.Integer({ minimum: 1 }) }),
  input_requested: Type.Object({
    ...agentFields,
    interrupt_id: Id,
    kind: InterruptKindSchema,
    /** approval: the tool call waiting for it */
    tool_name: Type.Optional(Type.String()),
    tool_call_id: Type.Optional(Id),
    arguments: Type.Optional(Json),
    /** question: what the agent asks */
    question: Type.Optional(Type.String()),
    /** the JSON Schema the answer must meet */
    schema: Json,
    expires_at: Type.String()
  }),
  input_received: Type.Object({
    ...agentFields,
    interrupt_id: Id,
    kind: InterruptKindSchema,
    by: Type.Union([Type.Literal('user'), Type.Literal('expiry'), Type.Literal('cancel')]),
    decision: Type.Optional(Type.Union([Type.Literal('approve'), Type.Literal('reject')])),
    reason: Type.Optional(Type.String()),
    arguments: Type.Optional(Json),
    answer: Type.Optional(Json)
  }),
  answer_delta: Type.Object({
    ...runFields,
    delta: Type.String(),
    /** the text streamed so far is withdrawn: the answer starts again with this delta */
    reset: Type.Optional(Type.Literal(true)),
    agent_id: Type.Optional(Id),
    agent_name: Type.Optional(Type.String())
  }),
  run_queued: Type.Object({ ...runFields, position: Type.Integer({ minimum: 1 }) }),
  run_completed: Type.Object({ ...runFields, result: Json }),
  run_failed: Type.Object({ ...runFields, error: ErrorBodySchema }),
  run_cancelled: Type.Object({ ...runFields, reason: Type.String() })
} as const

export type EventType = keyof typeof EventDataSchemas
export type EventData<T extends EventType> = Static<(typeof EventDataSchemas)[T]>
export const TERMINAL_TYPES: ReadonlySet<EventType> = new Set(['run_completed', 'run_failed', 'run_cancelled'])

const envelope = <T extends EventType>(type: T) => Type.Object({
  type: Type.Literal(type),
  seq: Type.Integer({ minimum: 1 }),
  run_id: Id,
  thread_id: Id,
  user_id: Id,
  data: EventDataSchemas[type]
})

export const RunEventSchema = Type.Union(
  (Object.keys(EventDataSchemas) as EventType[]).map((t) => envelope(t))
)
export type RunEvent = Static<typeof RunEventSchema>
/** An event before the emitter gives it its envelope: the type and its data. */
export type EventInput = { [T in EventType]: { type: T, data: EventData<T> } }[EventType]

/**
 * Each type's data, compiled once. An event's envelope (type, seq and ids) is the emitter's own;
 * only its data comes from an agent, so that is what is checked, against its own type's schema
 * (not a union of every envelope tried in turn).
 */
export const EventDataChecks = Object.fromEntries(
  (Object.keys(EventDataSchemas) as EventType[]).map((t) => [t, TypeCompiler.Compile(EventDataSchemas[t])])
) as { [T in EventType]: TypeCheck<(typeof EventDataSchemas)[T]> }

// WebSocket client frames (CONTRACT §4)
const FrameId = Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Number()]))
export const MultitaskSchema = Type.Union([Type.Literal('reject'), Type.Literal('enqueue'), Type.Literal('interrupt')])
export const MAX_CONTENT_CHARS = 32768
export const MessageFields = {
  content: Type.String({ minLength: 1, maxLength: MAX_CONTENT_CHARS }),
  thread_id: Type.Optional(Id),
  agent: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  input: Type.Optional(Type.Object({}, { additionalProperties: true })),
  multitask: Type.Optional(MultitaskSchema)
}

/** The answer to an interrupt (CONTRACT §5.6): a decision for an approval, an `answer` for a question. */
export const ResumeFields = {
  interrupt_id: Id,
  decision: Type.Optional(Type.Union([Type.Literal('approve'), Type.Literal('reject')])),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
  arguments: Type.Optional(Type.Object({}, { additionalProperties: true })),
  answer: Type.Optional(Json)
}
export const ResumeSchema = Type.Object(ResumeFields, { additionalProperties: false })
export type ResumeRequest = Static<typeof ResumeSchema>

export const ClientFrameSchema = Type.Union([
  Type.Object({ type: Type.Literal('subscribe'), id: FrameId, run_id: Id, after_seq: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('subscribe'), id: FrameId, thread_id: Id }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('unsubscribe'), id: FrameId, run_id: Id }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('unsubscribe'), id: FrameId, thread_id: Id }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('message'), id: FrameId, ...MessageFields }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('cancel'), id: FrameId, run_id: Id }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('resume'), id: FrameId, run_id: Id, ...ResumeFields }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ping'), id: FrameId }, { additionalProperties: false })
])
export type ClientFrame = Static<typeof ClientFrameSchema>
export const FRAME_TYPES = new Set(['subscribe', 'unsubscribe', 'message', 'cancel', 'resume', 'ping'])

// one compiled checker per frame variant, so a bad frame is told what is wrong with it rather
// than that it matches none of the union
const FRAME_VARIANTS = ClientFrameSchema.anyOf.map((schema) => ({
  type: schema.properties.type.const as string,
  key: 'thread_id' in schema.properties && !('content' in schema.properties) ? 'thread_id' : 'run_id' in schema.properties ? 'run_id' : undefined,
  check: TypeCompiler.Compile(schema)
}))

/** The frame, typed, or a one-line reason it is invalid. Call with a known `type` only. */
export function checkFrame (frame: { type: string }): { frame: ClientFrame } | { error: string } {
  const candidates = FRAME_VARIANTS.filter((v) => v.type === frame.type)
  const variant = candidates.find((v) => v.key && v.key in frame) ?? candidates[0]
  if (variant.check.Check(frame)) return { frame: frame as ClientFrame }
  return { error: firstError(variant.check, frame) }
}

/** First schema error of a value, as one readable line. */
export function firstError (check: { Errors: (v: unknown) => Iterable<{ path: string, message: string }> }, value: unknown): string {
  const [e] = check.Errors(value)
  return e ? `${e.path || '/'}: ${e.message}` : 'invalid'
}

export function compile<T extends TSchema> (schema: T) {
  return TypeCompiler.Compile(schema)
}

export const now = () => Date.now() / 1000

/**
 * An event's JSON from its data's JSON, the key order of JSON.stringify for an event built as
 * { type, seq, run_id, thread_id, user_id, data }: the emitter serialises each event's data once
 * and shares both strings with the store, the bus and every connection.
 */
export const eventJson = (e: RunEvent, dataJson: string): string =>
  `{"type":${JSON.stringify(e.type)},"seq":${e.seq},"run_id":${JSON.stringify(e.run_id)},"thread_id":${JSON.stringify(e.thread_id)},"user_id":${JSON.stringify(e.user_id)},"data":${dataJson}}`

/** What the memory bus hands this process's followers beside a run's message: the events and each one's JSON. */
export interface LocalEvents { events: readonly RunEvent[], lines: readonly string[] }
