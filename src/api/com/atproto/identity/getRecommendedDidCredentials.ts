// com.atproto.identity.getRecommendedDidCredentials: what the caller's DID document should hold for the account to be
// served here (src/account/plc-operations.ts). A PDS an account is moving to answers this; the old one signs it.
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** `{rotationKeys, alsoKnownAs, verificationMethods: {atproto}, services: {atproto_pds}}`, as the reference answers. */
export default defineMethod({
  handler: ({ ctx, auth }) => ctx.plcOperations.recommendedCredentials(userOf(auth).did),
})
