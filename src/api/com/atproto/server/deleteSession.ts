import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  handler: ({ ctx, auth }) => {
    const user = userOf(auth)
    // The whole session ends, whichever of its live refresh tokens (current, or spent but inside its grace) asks.
    // A token spent longer ago no longer speaks for the session; like the reference, which then deletes only that
    // token's own (gone) row, the answer is still 200 and the session lives on for whoever holds its current token.
    if (ctx.sessions.isLiveRefresh({ did: user.did, sessionId: user.sessionId, ...user.refresh! })) {
      ctx.sessions.delete(user.sessionId, user.did)
    }
  },
})
