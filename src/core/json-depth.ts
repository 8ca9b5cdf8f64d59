/** How deep JSON from a client may nest: deeper input is refused before it is parsed. */
export const MAX_JSON_DEPTH = 64

/**
 * True when the JSON text nests arrays/objects deeper than `max`. One pass over the text, brackets
 * inside strings skipped; it never recurses, so no input can overflow the stack.
 */
export function jsonTooDeep (text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) {
      inString = true
    } else if (c === 123 || c === 91) {
      if (++depth > max) return true
    } else if (c === 125 || c === 93) {
      depth--
    }
  }
  return false
}
