import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Mail the caller's address a delete_account code, which deleteAccount spends. */
export default defineMethod({
  handler: async ({ ctx, auth }) => {
    await ctx.selfService.requestAccountDelete(userOf(auth).did)
  },
})
