import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

export default defineMethod({
  input: z.object({ useCount: z.number().int().min(1).max(10_000), forAccount: did.optional() }),
  handler: ({ ctx, input }) => {
    const [{ codes }] = ctx.invites.create(input.useCount, [input.forAccount ?? 'admin'], 1)
    return { code: codes[0] }
  },
})
