import { sessionOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  // The whole session ends, whichever of its live refresh tokens (current, or spent but inside its grace) asks. A
  // token spent longer ago never gets here: the refresh verifier answers it 400 ExpiredToken and nothing changes.
  handler: ({ ctx, auth }) => {
    const user = sessionOf(auth)
    ctx.sessions.delete(user.sessionId, user.did)
  },
})
