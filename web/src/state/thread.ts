import { isFinished, newRun, reduceRun, type PageEvent, type RunView } from './run-view.js'

/** One question and the run that answers it. */
export interface Turn {
  message_id: string
  content: string
  created_at: string
  run: RunView
  /** the agent asked and its input (known for turns sent from this page) */
  agent?: string
  input?: Record<string, unknown>
}

/** What loading and following need of the client (`AgentwireClient` fits; the tests pass fakes). */
export interface ThreadSource {
  threadMessages (threadId: string): Promise<Array<{ message_id: string, role: string, content: string, run_id: string | null, created_at: string }>>
  runEvents (runId: string, afterSeq?: number): Promise<PageEvent[]>
}

export interface FollowedRun {
  events (): AsyncIterable<PageEvent>
  stop (): void
}

export interface RunFollower {
  run (runId: string, opts: { after_seq: number }): Promise<FollowedRun>
}

/**
 * A thread as stored: each user message with its run rebuilt from the run's stored events, so a
 * reload shows every step, not only the answers.
 */
export async function loadThread (source: ThreadSource, threadId: string): Promise<Turn[]> {
  const messages = await source.threadMessages(threadId)
  const turns: Turn[] = []
  for (const m of messages) {
    if (m.role !== 'user' || !m.run_id) continue
    turns.push({ message_id: m.message_id, content: m.content, created_at: m.created_at, run: newRun(m.run_id, threadId) })
  }
  await Promise.all(turns.map(async (turn) => {
    for (const e of await source.runEvents(turn.run.run_id, 0)) reduceRun(turn.run, e)
  }))
  return turns
}

/** The turns whose run has not ended: the page follows them live. */
export const unfinished = (turns: Turn[]) => turns.filter((t) => !isFinished(t.run))

/**
 * Follows a run live from the last event the view holds (`after_seq` = its last seq), applying each
 * event once, until the run ends or `signal` aborts. The client resumes across reconnects; a gap
 * (should one ever show) is filled from the stored events. Resolves when the run has ended.
 */
export async function followRun (client: RunFollower, source: Pick<ThreadSource, 'runEvents'>, view: RunView, changed: (view: RunView) => void, signal?: AbortSignal): Promise<void> {
  if (isFinished(view) || signal?.aborted) return
  const run = await client.run(view.run_id, { after_seq: view.lastSeq })
  const stop = () => run.stop()
  signal?.addEventListener('abort', stop, { once: true })
  try {
    for await (const event of run.events()) {
      let r = reduceRun(view, event)
      if (r === 'gap') {
        for (const e of await source.runEvents(view.run_id, view.lastSeq)) reduceRun(view, e)
        r = reduceRun(view, event)
      }
      if (r === 'ok') changed(view)
      if (isFinished(view) || signal?.aborted) break
    }
  } catch (err) {
    if (signal?.aborted) return
    throw err
  } finally {
    signal?.removeEventListener('abort', stop)
    if (!isFinished(view)) run.stop()
  }
}
