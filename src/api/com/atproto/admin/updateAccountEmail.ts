import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { atIdentifier, email } from '../../../../xrpc/schemas.ts'

/** Give an account (handle or DID) a new, unconfirmed email address. */
export default defineMethod({
  input: z.object({ account: atIdentifier, email }),
  handler: ({ ctx, input }) => {
    ctx.accountAdmin.updateEmail(input.account, input.email)
  },
})
