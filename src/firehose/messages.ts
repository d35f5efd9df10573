// The frames the firehose itself writes (everything else is sent as stored). Names and texts follow the reference PDS.
import { encodeErrorFrame, encodeFrame } from '../protocol/frames.ts'

export const SUBSCRIBE_REPOS_PATH = '/xrpc/com.atproto.sync.subscribeRepos'

// WebSocket close codes: 1008 (policy) after an error frame, as the reference's stream server does.
export const CLOSE_POLICY = 1008
export const CLOSE_GOING_AWAY = 1001

export const outdatedCursorInfo = encodeFrame('#info', {
  name: 'OutdatedCursor',
  message: 'Requested cursor exceeded limit. Possibly missing events',
})
export const futureCursorError = encodeErrorFrame('FutureCursor', 'Cursor in the future.')
export const consumerTooSlowError = encodeErrorFrame('ConsumerTooSlow', 'Stream consumer too slow')

export function invalidRequestError(message: string): Uint8Array {
  return encodeErrorFrame('InvalidRequest', message)
}
