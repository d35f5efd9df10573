import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

const input = z.object({
  codeCount: z.number().int().min(1).max(1000).default(1),
  useCount: z.number().int().min(1).max(10_000),
  forAccounts: z.array(did).max(1000).optional(),
})

export default defineMethod({
  input,
  handler: ({ ctx, input }) => {
    const accounts = input.forAccounts?.length ? input.forAccounts : ['admin']
    return { codes: ctx.invites.create(input.useCount, accounts, input.codeCount) }
  },
})
