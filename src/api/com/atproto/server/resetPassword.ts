import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Set a new password with requestPasswordReset's code; every session of the account ends. */
export default defineMethod({
  input: z.object({ token: z.string(), password: z.string() }),
  handler: async ({ ctx, input }) => {
    await ctx.selfService.resetPassword(input.token, input.password)
  },
})
