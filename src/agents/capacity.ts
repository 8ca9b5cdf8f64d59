import { defineAgent } from '../core/registry.js'
import type { Forecast } from '../tools/forecast.js'
import { usd } from './format.js'

export const HORIZONS = Object.freeze([30, 90])

export const capacity = defineAgent<Record<string, never>, Forecast>({
  name: 'capacity',
  description: 'Forecasts the user\'s LLM spend for the next 30 and 90 days from the growth and weekly cycle of their daily spend, with a 90% interval checked by rolling-origin backtests.',
  input_schema: { type: 'object' },
  async run (ctx) {
    ctx.think('Fitting growth and day-of-week effects to daily spend over the whole history, and backtesting the interval.')
    const forecast = await ctx.call_tool<Forecast>('forecast_spend', { horizons: [...HORIZONS] })
    const next = forecast.horizons[0]
    ctx.think(next
      ? `Next ${next.days} days: ${usd(next.point_usd)} (${usd(next.low_usd)} to ${usd(next.high_usd)}).`
      : `No forecast: ${forecast.insufficient}.`)
    return forecast
  }
})
