import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/** Set an account's password; its sessions end, as after a password reset. Length checked by the service. */
export default defineMethod({
  input: z.object({ did, password: z.string() }),
  handler: async ({ ctx, input }) => {
    await ctx.accountAdmin.updatePassword(input.did, input.password)
  },
})
