/**
 * Per-user choices kept in the browser: thread titles the user gave and threads the user removed
 * from the list. The service has no rename or delete route for threads (yet), so these stay local.
 */
export interface KeyValueStore { getItem (key: string): string | null, setItem (key: string, value: string): void }

export interface ThreadPrefs { titles: Record<string, string>, hidden: string[] }

const key = (userId: string) => `agentwire.threads.${userId}`

export function loadPrefs (store: KeyValueStore, userId: string): ThreadPrefs {
  try {
    const p = JSON.parse(store.getItem(key(userId)) ?? '{}') as Partial<ThreadPrefs>
    return { titles: p.titles ?? {}, hidden: Array.isArray(p.hidden) ? p.hidden : [] }
  } catch {
    return { titles: {}, hidden: [] }
  }
}

export function savePrefs (store: KeyValueStore, userId: string, prefs: ThreadPrefs): void {
  store.setItem(key(userId), JSON.stringify(prefs))
}
