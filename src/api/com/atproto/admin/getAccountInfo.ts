import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/** One account as the operator sees it (admin.defs#accountView), whatever its status. */
export default defineMethod({
  params: z.object({ did }),
  handler: ({ ctx, params }) => {
    const info = ctx.accountAdmin.accountInfo(params.did)
    if (!info) throw new InvalidRequestError('Account not found', 'NotFound')
    return info
  },
})
