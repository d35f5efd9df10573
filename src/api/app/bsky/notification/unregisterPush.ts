import { defineMethod } from '../../../../xrpc/method.ts'
import { forwardPush, pushInput } from './push.ts'

/** Removes a device's push registration at the notification service `serviceDid` (see push.ts). */
export default defineMethod({
  input: pushInput,
  handler: forwardPush('app.bsky.notification.unregisterPush'),
})
