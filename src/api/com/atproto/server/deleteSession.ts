import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  handler: ({ ctx, auth }) => {
    const user = userOf(auth)
    ctx.sessions.delete(user.sessionId, user.did)
  },
})
