const DOLLARS = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' })
// a request usually costs a fraction of a cent
const FINE_DOLLARS = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 4, maximumFractionDigits: 4 })
const COUNT = new Intl.NumberFormat('en-US')

export const usd = (n: number) => DOLLARS.format(n)
export const usdFine = (n: number) => FINE_DOLLARS.format(n)
export const count = (n: number) => COUNT.format(n)
// shares are stored to 4 decimals: two decimals of percent show them without rounding twice
export const pct = (share: number) => `${(share * 100).toFixed(2)}%`
