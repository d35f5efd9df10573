// com.atproto.identity.resolveDid: the DID document, handle unverified (src/identity/identity-info.ts: errors).
import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

export default defineMethod({
  params: z.object({ did }),
  handler: async ({ ctx, params }) => ({ didDoc: await ctx.identityInfo.didDoc(params.did) }),
})
