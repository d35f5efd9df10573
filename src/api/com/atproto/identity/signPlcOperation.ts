// com.atproto.identity.signPlcOperation: an update of the caller's DID signed with this PDS's rotation key, with the
// mailed code; returned, not submitted (src/account/plc-operations.ts). The lexicon types verificationMethods and
// services as `unknown`; they are checked here for the shapes a PLC operation gives them (the reference only casts).
import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  input: z.object({
    token: z.string().optional(),
    rotationKeys: z.array(z.string()).optional(),
    alsoKnownAs: z.array(z.string()).optional(),
    verificationMethods: z.record(z.string(), z.string()).optional(),
    services: z.record(z.string(), z.object({ type: z.string(), endpoint: z.string() })).optional(),
  }),
  /** `{operation}`: the signed plc_operation. */
  handler: async ({ ctx, auth, input: { token, ...changes } }) => ({
    operation: await ctx.plcOperations.sign(userOf(auth).did, token, changes),
  }),
})
