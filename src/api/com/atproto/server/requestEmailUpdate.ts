import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** `tokenRequired`: the address is confirmed, so updateEmail needs the code just mailed to it. */
export default defineMethod({
  handler: ({ ctx, auth }) => ctx.selfService.requestEmailUpdate(userOf(auth).did),
})
