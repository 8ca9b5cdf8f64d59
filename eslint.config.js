import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'client/dist/**', 'web/dist/**', 'test-artifacts/**', 'coverage/**', '.tap/**', 'node_modules/**']
  }),
  {
    // wire fields are snake_case by contract (CONTRACT.md), and destructuring them keeps their names
    rules: { camelcase: 'off' }
  },
  {
    // the chat page runs in the browser; these are the browser globals it uses
    files: ['web/**/*.js'],
    languageOptions: {
      globals: { document: 'readonly', window: 'readonly', location: 'readonly', sessionStorage: 'readonly', WebSocket: 'readonly' }
    }
  }
]
