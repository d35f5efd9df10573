import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { email } from '../../../../xrpc/schemas.ts'

/**
 * Change the caller's address; once it is confirmed, with requestEmailUpdate's code. `emailAuthFactor` (sign-in
 * codes by mail) is accepted and ignored, as the reference PDS does.
 */
export default defineMethod({
  input: z.object({ email, emailAuthFactor: z.boolean().optional(), token: z.string().optional() }),
  handler: ({ ctx, auth, input }) => {
    ctx.selfService.updateEmail(userOf(auth).did, input.email, input.token)
  },
})
