import { isValidDatetime } from '@atproto/syntax'
import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** The owner stops their repo being served and written (e.g. after migrating away); `deleteAfter` is kept as a hint. */
export default defineMethod({
  input: z.object({
    deleteAfter: z.string().refine((s) => isValidDatetime(s), { message: 'must be a valid datetime' }).optional(),
  }),
  handler: ({ ctx, auth, input }) => {
    ctx.accountStatus.deactivate(userOf(auth).did, input.deleteAfter)
  },
})
