import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Mail the caller a plc_operation code, for signPlcOperation. No output. */
export default defineMethod({
  handler: async ({ ctx, auth }) => {
    await ctx.plcOperations.requestSignature(userOf(auth).did)
  },
})
