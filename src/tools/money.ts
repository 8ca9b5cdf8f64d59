/**
 * Rounds half up to `digits` decimals. Binary floats store 1.005 as 1.00499…, so the value is
 * nudged by a relative epsilon first; otherwise exact halves would round down.
 */
export function roundTo (x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f * (1 + Number.EPSILON)) / f
}

/** Money leaves the pack in whole cents; sum raw values first and round only the result. */
export const roundCents = (usd: number) => roundTo(usd, 2)
