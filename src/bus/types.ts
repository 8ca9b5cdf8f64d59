/**
 * How processes share what happens. A message is a JSON string, serialised once by the publisher
 * and handed as-is to every listener (and from there to every socket).
 * Channels: `run:<run_id>` carries a run's events in seq order; `thread:<thread_id>` announces a
 * new run on the thread (`{"run_id"}`).
 */
export type BusListener = (message: string) => void

export interface EventBus {
  publish (channel: string, message: string): Promise<void>
  /** resolves once the listener is live; the returned function removes it */
  subscribe (channel: string, listener: BusListener): Promise<() => Promise<void>>
  ping (): Promise<void>
  close (): Promise<void>
}

export const runChannel = (runId: string) => `run:${runId}`
export const threadChannel = (threadId: string) => `thread:${threadId}`
