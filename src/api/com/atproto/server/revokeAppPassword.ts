import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  input: z.object({ name: z.string().min(1).max(128) }),
  handler: ({ ctx, auth, input }) => {
    ctx.appPasswords.revoke(userOf(auth).did, input.name)
  },
})
