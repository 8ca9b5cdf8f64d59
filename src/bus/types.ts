/**
 * How processes share what happens. A message is a JSON string, serialised once by the publisher
 * and handed as-is to every listener (and from there to every socket).
 * Channels: `run:<run_id>` carries a run's events in seq order, one message per flush holding the
 * events' JSON one per line (JSON never holds a raw newline); `thread:<thread_id>` announces a new
 * run on the thread (`{"run_id"}`).
 */
export type BusListener = (message: string, local?: unknown) => void

export interface EventBus {
  /**
   * `local`, when given, goes as-is to this process's listeners on a bus that delivers here without
   * a round trip (the memory bus): the objects the message was made of, so they are not parsed back.
   */
  publish (channel: string, message: string, local?: unknown): Promise<void>
  /** resolves once the listener is live; the returned function removes it */
  subscribe (channel: string, listener: BusListener): Promise<() => Promise<void>>
  /**
   * `false` when messages may be lost from now on (the connection dropped), `true` when live again;
   * followers read the store meanwhile. Returns a function that removes the listener.
   */
  onStatus (listener: (up: boolean) => void): () => void
  ping (): Promise<void>
  close (): Promise<void>
}

/** Splits a run channel message into its events' JSON strings. */
export const eventLines = (message: string) => message.split('\n')

export const runChannel = (runId: string) => `run:${runId}`
export const threadChannel = (threadId: string) => `thread:${threadId}`
