import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/** Let an account receive invite codes again. `note` is accepted and not kept. */
export default defineMethod({
  input: z.object({ account: did, note: z.string().optional() }),
  handler: ({ ctx, input }) => {
    ctx.accountAdmin.setInvitesDisabled(input.account, false)
  },
})
