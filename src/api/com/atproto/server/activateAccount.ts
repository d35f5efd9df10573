import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  handler: async ({ ctx, auth }) => {
    await ctx.accountStatus.activate(userOf(auth).did)
  },
})
