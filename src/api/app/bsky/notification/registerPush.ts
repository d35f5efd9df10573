import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { forwardPush, pushInput } from './push.ts'

/** Registers a device for push notifications with the notification service `serviceDid` (see push.ts). */
export default defineMethod({
  input: pushInput.extend({ ageRestricted: z.boolean().optional() }),
  handler: forwardPush('app.bsky.notification.registerPush'),
})
