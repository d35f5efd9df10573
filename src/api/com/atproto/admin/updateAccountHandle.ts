import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did, handle } from '../../../../xrpc/schemas.ts'

/**
 * Give an account a new handle as its owner's updateHandle would (PLC operation for did:plc, then the handle and its
 * #identity event), except that reserved words are allowed.
 */
export default defineMethod({
  input: z.object({ did, handle }),
  handler: async ({ ctx, input }) => {
    await ctx.handles.updateHandle(input.did, input.handle, { byOperator: true })
  },
})
