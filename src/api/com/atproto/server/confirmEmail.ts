import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Confirm the caller's address with the code requestEmailConfirmation mailed to it; getSession then says so. */
export default defineMethod({
  input: z.object({ email: z.string(), token: z.string() }),
  handler: ({ ctx, auth, input }) => {
    ctx.selfService.confirmEmail(userOf(auth).did, input.email, input.token)
  },
})
