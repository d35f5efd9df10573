import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Mail a reset_password code to the account with this address. Answers the same whether there is one or not. */
export default defineMethod({
  input: z.object({ email: z.string() }),
  handler: ({ ctx, input }) => {
    ctx.selfService.requestPasswordReset(input.email)
  },
})
