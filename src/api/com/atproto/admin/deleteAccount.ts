import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/** The operator deletes an account with all its data; an unknown DID is an error rather than a deletion event. */
export default defineMethod({
  input: z.object({ did }),
  handler: async ({ ctx, input }) => {
    await ctx.accountStatus.deleteAccount(input.did)
  },
})
