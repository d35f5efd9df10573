import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did, queryInt } from '../../../../xrpc/schemas.ts'
import { availableRepo, cid, rev } from './util.ts'

/** CIDs of the blobs the repo's records use (temporary uploads are not listed), in CID order. */
export default defineMethod({
  params: z.object({
    did,
    since: rev.optional(),
    limit: queryInt(1, 1000).default(500),
    cursor: cid.optional(),
  }),
  handler: ({ ctx, auth, params }) => {
    availableRepo(ctx, auth, params.did)
    const cids = ctx.blobs.listReferenced(params.did, {
      since: params.since,
      cursor: params.cursor?.toString(),
      limit: params.limit,
    })
    return { cursor: cids.length === params.limit ? cids.at(-1) : undefined, cids }
  },
})
