import { accountStatus } from '../../../../account/account-status.ts'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  handler: async ({ ctx, auth }) => {
    await accountStatus(ctx).activate(userOf(auth).did)
  },
})
