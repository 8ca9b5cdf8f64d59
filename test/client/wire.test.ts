import { readFileSync } from 'node:fs'
import t from 'tap'
import type { ClientFrame as ServerFrame, EventData, EventType as ServerEventType, RunEvent as ServerEvent } from '../../src/core/events.js'
import type { ErrorCode as ServerErrorCode } from '../../src/errors.js'
import type { ClientFrame, ContractErrorCode, EventDataMap, EventType, RunEvent } from '../../client/src/index.js'
import { renderWire, WIRE_FILE } from '../../client/scripts/generate-wire.js'

t.test('client/src/wire.ts is what the generator makes of src/core/events.ts now', async (t) => {
  t.equal(readFileSync(WIRE_FILE, 'utf8'), renderWire(), 'stale: run npm run generate -w @agentwire/client')
})

// checked by `tsc --noEmit`: the client's types are the server's. The client's RunEvent is the
// discriminated union the schema describes (TypeBox's Static<> loses the type ↔ data pairing), so
// it goes one way; each event's data, the frames and the error codes go both ways.
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type EveryData = { [T in EventType]: Mutual<EventDataMap[T], EventData<T>> }[EventType]
const checks: Array<true> = [
  true as ([RunEvent] extends [ServerEvent] ? true : false),
  true as Mutual<EventType, ServerEventType>,
  true as Mutual<EveryData, true>,
  true as Mutual<ClientFrame, ServerFrame>,
  true as Mutual<ContractErrorCode, ServerErrorCode>
]

t.test('the client\'s wire types are the server\'s (checked by tsc)', async (t) => {
  t.equal(checks.length, 5)
})
