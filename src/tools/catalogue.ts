import { PRICES, priceOf, type ModelPrice, type PriceTable } from './prices.js'

/**
 * Read-only views of the price catalogue that the recommendations need. They lean only on
 * `models[name].{provider, tier, input, output, cached_input}`, an optional `batch_discount` and
 * `priceOf`, so the catalogue can add fields, models or rename its tiers without breaking them.
 */

/** The model's list price (its snapshots and aliases included), or undefined when the table has none. */
export function priceFor (model: string, table: PriceTable = PRICES): ModelPrice | undefined {
  try {
    return priceOf(model, table)
  } catch {
    return undefined
  }
}

/**
 * Each tier's rank, 0 for the cheapest: tiers are ordered by the mean list price
 * (input + output) of their models, so the ranking needs no knowledge of the tier names.
 */
export function tierRanks (table: PriceTable = PRICES): Map<string, number> {
  const sums = new Map<string, { total: number, n: number }>()
  for (const p of Object.values(table.models)) {
    const s = sums.get(String(p.tier)) ?? { total: 0, n: 0 }
    s.total += p.input + p.output
    s.n++
    sums.set(String(p.tier), s)
  }
  const ordered = [...sums].sort((a, b) => a[1].total / a[1].n - b[1].total / b[1].n || (a[0] < b[0] ? -1 : 1))
  return new Map(ordered.map(([tier], i) => [tier, i]))
}

export interface CatalogueModel { name: string, provider: string, tier: string, rank: number, price: ModelPrice }

/** Every model of the table with its tier rank, by name. */
export function catalogueModels (table: PriceTable = PRICES): CatalogueModel[] {
  const ranks = tierRanks(table)
  return Object.entries(table.models)
    .map(([name, price]) => ({ name, provider: String(price.provider), tier: String(price.tier), rank: ranks.get(String(price.tier))!, price }))
    .sort((a, b) => (a.name < b.name ? -1 : 1))
}

/** A model the provider still offers and recommends: the only kind worth moving traffic to. */
export function isCurrent (model: string, table: PriceTable = PRICES): boolean {
  const p = priceFor(model, table)
  return !!p && (p.status ?? 'current') === 'current'
}

/** A model whose output counts carry hidden reasoning tokens (billed as output). */
export const isReasoning = (model: string, table: PriceTable = PRICES) => priceFor(model, table)?.reasoning === true

/** The share of a request's price the provider's batch API takes off, or undefined when it has none. */
export function batchDiscountOf (model: string, table: PriceTable = PRICES): number | undefined {
  const d = (priceFor(model, table) as { batch_discount?: unknown } | undefined)?.batch_discount
  return typeof d === 'number' && d > 0 && d < 1 ? d : undefined
}
