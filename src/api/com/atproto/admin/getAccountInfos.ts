import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did, queryList } from '../../../../xrpc/schemas.ts'

/**
 * Several accounts as the operator sees them; DIDs with no account here are left out, as in the reference. At most
 * 1000 per call (the reference sets no bound; a query string that long is near the HTTP header limit anyway).
 */
export default defineMethod({
  params: z.object({ dids: queryList(did, 1, 1000) }),
  handler: ({ ctx, params }) => ({ infos: ctx.accountAdmin.accountInfos(params.dids) }),
})
