import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/** The owner deletes their account: no login, but its password and requestAccountDelete's code. */
export default defineMethod({
  input: z.object({ did, password: z.string(), token: z.string() }),
  handler: async ({ ctx, input }) => {
    await ctx.selfService.deleteAccount(input.did, input.password, input.token)
  },
})
