import t from 'tap'
import { InvalidIdError, UserExecutionContext, silentLogger, validateId, type Logger } from '../../src/core/context.js'

const run = (over: Partial<{ run_id: string, thread_id: string, user_id: string }> = {}) =>
  ({ run_id: 'run-1', thread_id: 'thread-1', user_id: 'alice', ...over })

/** A logger that records what it is asked to log, with its bindings. */
function recordingLogger () {
  const lines: Array<{ level: string, bindings: Record<string, unknown>, obj: unknown, msg?: string }> = []
  const make = (bindings: Record<string, unknown>): Logger => ({
    info (obj, msg) { lines.push({ level: 'info', bindings, obj, msg }) },
    warn (obj, msg) { lines.push({ level: 'warn', bindings, obj, msg }) },
    error (obj, msg) { lines.push({ level: 'error', bindings, obj, msg }) },
    debug (obj, msg) { lines.push({ level: 'debug', bindings, obj, msg }) },
    child (more) { return make({ ...bindings, ...more }) }
  })
  return { lines, log: make({}) }
}

t.test('create makes a frozen context', async (t) => {
  const ctx = UserExecutionContext.create({ user_id: 'alice', request_id: 'req-1' })
  t.ok(Object.isFrozen(ctx), 'frozen')
  t.equal(ctx.user_id, 'alice')
  t.equal(ctx.request_id, 'req-1')
  t.equal(ctx.connection_id, undefined)
  t.throws(() => { (ctx as { user_id: string }).user_id = 'bob' }, TypeError, 'user_id cannot be changed')
  t.equal(ctx.user_id, 'alice')

  const ws = UserExecutionContext.create({ user_id: 'alice', connection_id: 'conn-1' })
  t.equal(ws.connection_id, 'conn-1')
  t.match(ws.request_id, /^[0-9a-f-]{36}$/, 'a request id is made when absent')
  t.not(UserExecutionContext.create({ user_id: 'alice' }).request_id, UserExecutionContext.create({ user_id: 'alice' }).request_id)
})

t.test('create refuses ids that are not real identities', async (t) => {
  const bad: unknown[] = ['', 'undefined', 'null', 'None', 'NaN', 'user_id', 'userid', 'changeme', '<user>', '{user}', '{{user}}',
    'a'.repeat(129), 'alice smith', ' alice', 'alice\n', 'ali/ce', 'al"ice', undefined, null, 42, {}, ['alice']]
  for (const user_id of bad) {
    t.throws(() => UserExecutionContext.create({ user_id }), InvalidIdError, `refuses ${JSON.stringify(user_id) ?? String(user_id)}`)
  }
  try {
    UserExecutionContext.create({ user_id: 'undefined' })
  } catch (err) {
    t.equal((err as InvalidIdError).code, 'invalid_request')
    t.equal((err as Error).message, 'invalid user id')
  }
  for (const user_id of ['alice', 'a', 'a'.repeat(128), 'alice@example.com', 'auth0:123', 'u-1.2_3']) {
    t.equal(UserExecutionContext.create({ user_id }).user_id, user_id, `accepts ${user_id}`)
  }
  t.throws(() => UserExecutionContext.create({ user_id: 'alice', request_id: 'bad id' }), InvalidIdError, 'a bad request id')
  t.throws(() => UserExecutionContext.create({ user_id: 'alice', connection_id: '' }), InvalidIdError, 'a bad connection id')
})

t.test('validateId names the kind', async (t) => {
  t.equal(validateId('thread id', 'thread-1'), 'thread-1')
  t.throws(() => validateId('thread id', 'null'), { name: 'InvalidIdError', message: 'invalid thread id' })
})

t.test('the log carries the user', async (t) => {
  const { lines, log } = recordingLogger()
  const ctx = UserExecutionContext.create({ user_id: 'alice', connection_id: 'conn-1', log })
  ctx.log.info({ x: 1 }, 'hello')
  t.strictSame(lines, [{ level: 'info', bindings: { user_id: 'alice', connection_id: 'conn-1' }, obj: { x: 1 }, msg: 'hello' }])
})

t.test('forRun binds a run of this user only', async (t) => {
  const ctx = UserExecutionContext.create({ user_id: 'alice', request_id: 'req-1' })
  t.throws(() => ctx.forRun(run({ user_id: 'bob' })), InvalidIdError, 'another user\'s run')
  t.throws(() => ctx.forRun(run({ user_id: 'Alice' })), InvalidIdError, 'ids are case-sensitive')
  t.throws(() => ctx.forRun(run({ run_id: 'undefined' })), InvalidIdError, 'a placeholder run id')
  t.throws(() => ctx.forRun(run({ thread_id: '' })), InvalidIdError, 'an empty thread id')

  const scope = ctx.forRun(run())
  t.ok(Object.isFrozen(scope), 'the scope is frozen')
  t.equal(scope.user_id, 'alice')
  t.equal(scope.run_id, 'run-1')
  t.equal(scope.thread_id, 'thread-1')
  t.equal(scope.request_id, 'req-1')
  t.throws(() => { (scope as { user_id: string }).user_id = 'bob' }, TypeError)
})

t.test('the scope log carries user, run and thread', async (t) => {
  const { lines, log } = recordingLogger()
  const scope = UserExecutionContext.create({ user_id: 'alice', log }).forRun(run())
  scope.log.warn('careful')
  t.strictSame(lines, [{ level: 'warn', bindings: { user_id: 'alice', run_id: 'run-1', thread_id: 'thread-1' }, obj: 'careful', msg: undefined }])
})

t.test('cleanups run in reverse order, every one, exactly once', async (t) => {
  const { lines, log } = recordingLogger()
  const scope = UserExecutionContext.create({ user_id: 'alice', log }).forRun(run())
  const order: string[] = []
  scope.onCleanup(() => { order.push('first') })
  scope.onCleanup(async () => { await Promise.resolve(); order.push('second') })
  scope.onCleanup(() => { order.push('third'); throw new Error('third broke') })
  scope.onCleanup(async () => { order.push('fourth'); throw new Error('fourth broke') })
  scope.onCleanup(() => { order.push('fifth') })

  await scope.cleanup()
  t.strictSame(order, ['fifth', 'fourth', 'third', 'second', 'first'])
  t.strictSame(lines.map((l) => [l.level, l.msg, (l.obj as { err: Error }).err.message]), [
    ['error', 'run cleanup failed', 'fourth broke'],
    ['error', 'run cleanup failed', 'third broke']
  ], 'each failure is logged, none thrown')

  await scope.cleanup()
  await Promise.all([scope.cleanup(), scope.cleanup()])
  t.strictSame(order, ['fifth', 'fourth', 'third', 'second', 'first'], 'a second cleanup runs nothing again')
  t.throws(() => scope.onCleanup(() => {}), /already cleaned up/, 'no cleanup can be added afterwards')
})

t.test('concurrent cleanups run each callback once', async (t) => {
  const scope = UserExecutionContext.create({ user_id: 'alice', log: silentLogger }).forRun(run())
  let calls = 0
  scope.onCleanup(async () => { calls++; await new Promise((resolve) => setImmediate(resolve)) })
  scope.onCleanup(async () => { calls++; await new Promise((resolve) => setImmediate(resolve)) })
  await Promise.all([scope.cleanup(), scope.cleanup(), scope.cleanup()])
  t.equal(calls, 2)
})

t.test('abort aborts the signal once, with the first reason', async (t) => {
  const scope = UserExecutionContext.create({ user_id: 'alice' }).forRun(run())
  let aborts = 0
  scope.signal.addEventListener('abort', () => { aborts++ })
  t.equal(scope.signal.aborted, false)
  const first = new Error('cancelled by the user')
  scope.abort(first)
  scope.abort(new Error('later'))
  t.equal(scope.signal.aborted, true)
  t.equal(scope.signal.reason, first)
  t.equal(aborts, 1)

  const other = UserExecutionContext.create({ user_id: 'alice' }).forRun(run())
  t.equal(other.signal.aborted, false, 'each run has its own signal')
})
