import { FencedError, type Store } from './types.js'

/**
 * The store, telling `onError` of every call that fails, by its method name (`appendBatches`,
 * `claimRuns`, …), so operators see which operation a failing database breaks. A fence (another
 * process holds the run) is the store working, not failing.
 */
export function countErrors (store: Store, onError: (operation: string) => void): Store {
  const wrapped = new WeakMap<object, (...args: unknown[]) => unknown>()
  const originals = new WeakMap<object, unknown>()
  return new Proxy(store, {
    get (target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function' || typeof prop !== 'string') return value
      let wrapper = wrapped.get(value)
      if (!wrapper) {
        const count = (err: unknown) => { if (!(err instanceof FencedError)) onError(prop) }
        wrapper = (...args: unknown[]) => {
          let result: unknown
          try { result = value.apply(target, args) } catch (err) { count(err); throw err }
          if (result instanceof Promise) result.catch(count)
          return result
        }
        wrapped.set(value, wrapper)
        originals.set(wrapper, value)
      }
      return wrapper
    },
    // a method put back (tests) is the method, not its wrapper
    set (target, prop, value: unknown, receiver) {
      return Reflect.set(target, prop, (typeof value === 'function' && originals.get(value)) || value, receiver)
    }
  })
}
