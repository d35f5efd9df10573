import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Disable some codes, and every code made for some accounts; the operator's own ('admin') cannot be disabled so. */
export default defineMethod({
  input: z.object({
    codes: z.array(z.string().max(256)).max(1000).optional(),
    accounts: z.array(z.string().max(2048)).max(1000).optional(),
  }),
  handler: ({ ctx, input }) => {
    const { codes = [], accounts = [] } = input
    if (accounts.includes('admin')) throw new InvalidRequestError('cannot disable admin invite codes')
    ctx.invites.disable(codes, accounts)
  },
})
