import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { queryInt } from '../../../../xrpc/schemas.ts'

/** Every invite code with its uses, newest (`recent`) or most used (`usage`) first, a page at a time. */
export default defineMethod({
  params: z.object({
    sort: z.string().default('recent'),
    limit: queryInt(1, 500).default(100),
    cursor: z.string().optional(),
  }),
  handler: ({ ctx, params }) => {
    const { sort, limit, cursor } = params
    if (sort !== 'recent' && sort !== 'usage') throw new InvalidRequestError(`unknown sort method: ${sort}`)
    return ctx.invites.page(sort, limit, cursor)
  },
})
