import type { BaseEvent } from '@ag-ui/core'
import { randomUUID } from 'node:crypto'
import { parseSse, type SseBlock } from './http.js'

/** An AG-UI event as the tests read it. */
export type Ag = BaseEvent & Record<string, any>

/** A RunAgentInput with one user message and fresh ids; `extra` overrides any field. */
export const input = (content: string, extra: Record<string, unknown> = {}) => ({
  threadId: randomUUID(),
  runId: randomUUID(),
  messages: [{ id: randomUUID(), role: 'user', content }],
  state: {},
  tools: [],
  context: [],
  forwardedProps: {},
  ...extra
})

/** The SSE blocks that carry an id (the opening `: stream` comment is not one). */
export const idBlocks = (body: string) => parseSse(body).filter((b) => b.id !== undefined)
export const eventsOf = (blocks: SseBlock[]) => blocks.filter((b) => b.data !== undefined).map((b) => JSON.parse(b.data!) as Ag)
