import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  handler: ({ ctx, auth }) => ({ passwords: ctx.appPasswords.list(userOf(auth).did) }),
})
