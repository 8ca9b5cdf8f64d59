import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'node_modules/**']
  }),
  {
    // wire fields are snake_case by contract (CONTRACT.md), and destructuring them keeps their names
    rules: { camelcase: 'off' }
  }
]
