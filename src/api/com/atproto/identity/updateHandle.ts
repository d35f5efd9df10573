// com.atproto.identity.updateHandle: the caller's new handle, under a service domain or a domain of their own that
// names their DID (src/account/handle-service.ts has the steps and errors). No output, as in the lexicon.
import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { handle } from '../../../../xrpc/schemas.ts'

export default defineMethod({
  input: z.object({ handle }),
  handler: async ({ ctx, auth, input }) => {
    await ctx.handles.updateHandle(userOf(auth).did, input.handle)
  },
})
