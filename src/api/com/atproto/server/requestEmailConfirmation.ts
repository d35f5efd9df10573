import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Mail the caller's address a confirm_email code, which confirmEmail spends. */
export default defineMethod({
  handler: async ({ ctx, auth }) => {
    await ctx.selfService.requestEmailConfirmation(userOf(auth).did)
  },
})
