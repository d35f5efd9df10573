// com.atproto.identity.refreshIdentity: resolveIdentity past our DID document cache, for a client that knows an
// identity just changed. The answer is resolveIdentity's.
import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { atIdentifier } from '../../../../xrpc/schemas.ts'

export default defineMethod({
  input: z.object({ identifier: atIdentifier }),
  handler: async ({ ctx, input }) => ctx.identityInfo.identity(input.identifier, true),
})
