import type { BusListener, EventBus } from './types.js'

/** The one-process bus: channels are sets of listeners in this process. */
export function createMemoryBus (): EventBus {
  const channels = new Map<string, Set<BusListener>>()
  return {
    async publish (channel, message, local) {
      const set = channels.get(channel)
      if (!set) return
      for (const listener of [...set]) listener(message, local)
    },
    async subscribe (channel, listener) {
      let set = channels.get(channel)
      if (!set) channels.set(channel, (set = new Set()))
      set.add(listener)
      return async () => {
        set.delete(listener)
        if (set.size === 0 && channels.get(channel) === set) channels.delete(channel)
      }
    },
    onStatus () { return () => {} },
    async ping () {},
    async close () { channels.clear() }
  }
}
