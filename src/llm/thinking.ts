/**
 * Turns a model's streamed text into a few `agent_thinking` events instead of one per token:
 * complete lines go out once at least `minChars` are waiting, and a line that runs past
 * `maxChars` is cut at its last space. `flush` sends what is left.
 */
export function thoughtStream (think: (text: string) => void, { minChars = 200, maxChars = 400 } = {}) {
  let pending = ''
  const send = (text: string) => {
    const t = text.trim()
    if (t) think(t)
  }
  return {
    push (delta: string) {
      pending += delta
      const nl = pending.lastIndexOf('\n')
      if (nl !== -1 && nl + 1 >= minChars) {
        send(pending.slice(0, nl))
        pending = pending.slice(nl + 1)
      }
      while (pending.length > maxChars) {
        const space = pending.lastIndexOf(' ', maxChars)
        const cut = space > 0 ? space : maxChars
        send(pending.slice(0, cut))
        pending = pending.slice(cut)
      }
    },
    flush () {
      send(pending)
      pending = ''
    }
  }
}
