import type { WorkflowStep } from '../registry.js'
import { runAgent, type Parent, type RunDeps } from './agent-runner.js'
import { RunFailure } from './failures.js'

/**
 * Runs a workflow's steps as their `depends_on` allow, independent ones in parallel (CONTRACT §6).
 * A required step that fails aborts the steps still running, waits for them to end, then fails
 * the workflow with that step's error.
 */
export async function runWorkflow (deps: RunDeps, steps: readonly WorkflowStep[], input: Record<string, unknown>, parent: Parent) {
  const controller = new AbortController()
  const onParent = () => controller.abort(parent.signal.reason)
  parent.signal.addEventListener('abort', onParent, { once: true })
  const child: Parent = { agent_id: parent.agent_id, signal: controller.signal, depth: parent.depth }

  const results: Record<string, unknown> = {}
  const failed: string[] = []
  const finished = new Set<string>()
  const running = new Map<string, Promise<void>>()
  let fatal: { error: unknown } | undefined

  const runStep = async (step: WorkflowStep) => {
    const stepInput = {
      input,
      content: deps.content,
      results: Object.fromEntries((step.depends_on ?? []).filter((d) => d in results).map((d) => [d, results[d]]))
    }
    try {
      results[step.id] = await runAgent(deps, step.agent, stepInput, child, step.id)
    } catch (err) {
      let failure = err
      if (step.fallback && !controller.signal.aborted) {
        try {
          results[step.id] = await runAgent(deps, step.fallback, stepInput, child, `${step.id}.fallback`)
          return
        } catch (fallbackErr) { failure = fallbackErr }
      }
      if (step.optional && !controller.signal.aborted) { failed.push(step.id); return }
      if (!controller.signal.aborted) {
        fatal = { error: failure }
        controller.abort(new RunFailure('cancelled', `workflow step "${step.id}" failed`, false))
      }
    } finally {
      finished.add(step.id)
    }
  }

  try {
    while (finished.size < steps.length && !controller.signal.aborted) {
      for (const step of steps) {
        if (running.has(step.id) || finished.has(step.id)) continue
        if ((step.depends_on ?? []).every((d) => finished.has(d))) running.set(step.id, runStep(step))
      }
      await Promise.race([...running].filter(([id]) => !finished.has(id)).map(([, p]) => p))
    }
    await Promise.allSettled(running.values())
    if (fatal) throw fatal.error
    if (controller.signal.aborted) throw controller.signal.reason
    return { results, failed }
  } finally {
    parent.signal.removeEventListener('abort', onParent)
  }
}
