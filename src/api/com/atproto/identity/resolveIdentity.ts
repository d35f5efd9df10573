// com.atproto.identity.resolveIdentity: a DID or handle → {did, handle, didDoc}, the handle verified both ways
// (`handle.invalid` when the DID's handle does not point back; src/identity/identity-info.ts: rules and errors).
import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { atIdentifier } from '../../../../xrpc/schemas.ts'

export default defineMethod({
  params: z.object({ identifier: atIdentifier }),
  handler: async ({ ctx, params }) => ctx.identityInfo.identity(params.identifier),
})
