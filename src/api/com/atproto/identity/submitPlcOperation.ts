// com.atproto.identity.submitPlcOperation: send a signed operation for the caller's DID to the PLC directory, if it
// keeps the account here, then sequence #identity (src/account/plc-operations.ts has the checks). No output.
import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  // An object (the lexicon's `unknown`); whether it is a PLC operation is the service's check, with its message.
  input: z.object({ operation: z.record(z.string(), z.unknown()) }),
  handler: async ({ ctx, auth, input }) => {
    await ctx.plcOperations.submit(userOf(auth).did, input.operation)
  },
})
