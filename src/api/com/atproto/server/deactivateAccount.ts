import { isValidDatetime } from '@atproto/syntax'
import { z } from 'zod'
import { accountStatus } from '../../../../account/account-status.ts'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** The owner stops their repo being served and written (e.g. after migrating away); `deleteAfter` is kept as a hint. */
export default defineMethod({
  input: z.object({
    deleteAfter: z.string().refine((s) => isValidDatetime(s), { message: 'must be a valid datetime' }).optional(),
  }),
  handler: ({ ctx, auth, input }) => {
    accountStatus(ctx).deactivate(userOf(auth).did, input.deleteAfter)
  },
})
