import t from 'tap'
import { createScheduler } from '../../src/core/engine/scheduler.js'

t.test('per-user limit, FIFO queue positions and round-robin admission', async (t) => {
  const s = createScheduler({ perUser: 2, queuePerUser: 3, global: 4 })
  const started: string[] = []
  const admit = (user: string, id: string) => s.admit(user, id, () => started.push(id))

  t.strictSame(admit('a', 'a1'), { status: 'running' })
  t.strictSame(admit('a', 'a2'), { status: 'running' })
  t.strictSame(admit('a', 'a3'), { status: 'queued', position: 1 })
  t.strictSame(admit('a', 'a4'), { status: 'queued', position: 2 })
  t.strictSame(admit('b', 'b1'), { status: 'running' })
  t.strictSame(admit('b', 'b2'), { status: 'running' })
  // global cap (4) reached: c waits although it runs nothing
  t.strictSame(admit('c', 'c1'), { status: 'queued', position: 1 })
  t.strictSame(admit('c', 'c2'), { status: 'queued', position: 2 })
  t.strictSame(s.stats(), { running: 4, waiting: 4 })

  // a frees a slot: the next in line is a (queued first), then c, then a again, then c
  s.release('a')
  s.release('b')
  s.release('b')
  s.release('a')
  t.strictSame(started, ['a1', 'a2', 'b1', 'b2', 'a3', 'c1', 'c2', 'a4'])
  t.strictSame(s.stats(), { running: 4, waiting: 0 })
})

t.test('a full queue is refused with rate_limited; a dequeued run never starts', async (t) => {
  const s = createScheduler({ perUser: 1, queuePerUser: 1, global: 10 })
  const started: string[] = []
  s.admit('a', 'a1', () => started.push('a1'))
  s.check('a')
  s.admit('a', 'a2', () => started.push('a2'))
  t.throws(() => s.check('a'), { code: 'rate_limited', statusCode: 429 })
  t.equal(s.dequeue('a', 'a2'), true)
  t.equal(s.dequeue('a', 'a2'), false)
  s.release('a')
  t.strictSame(started, ['a1'])
  t.strictSame(s.stats(), { running: 0, waiting: 0 })
})
