import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did, didKey, email } from '../../../../xrpc/schemas.ts'
import { AuthRequiredError, InvalidRequestError } from '../../../../xrpc/errors.ts'

const input = z.object({
  handle: z.string(),
  email,
  password: z.string().min(1).max(256, 'Password too long. Maximum length is 256 characters.'),
  inviteCode: z.string().max(256).optional(),
  recoveryKey: didKey.optional(),
  did: did.optional(),
  verificationCode: z.string().optional(),
  verificationPhone: z.string().optional(),
  plcOp: z.unknown().optional(),
})

/**
 * Signup, or (with `did`) an account migrating here: then the request must carry a service JWT from the DID itself
 * (its old PDS's getServiceAuth, aud = our DID, lxm = this method), verified by the route's optionalServiceAuth; the
 * account starts deactivated (@atproto/pds api/com/atproto/server/createAccount.js, validateInputsForLocalPds).
 */
export default defineMethod({
  input,
  handler: async ({ ctx, input, auth }) => {
    if (input.plcOp !== undefined) throw new InvalidRequestError('Unsupported input: "plcOp"')
    let created
    if (input.did !== undefined) {
      // The reference's words; a token for another DID (or none) is not the DID's consent.
      if (auth.type !== 'service' || auth.did !== input.did) {
        throw new AuthRequiredError(`Missing auth to create account with did: ${input.did}`)
      }
      created = await ctx.accounts.createMigratedAccount({ ...input, did: input.did })
    } else {
      created = await ctx.accounts.createAccount(input)
    }
    return {
      handle: created.handle,
      did: created.did,
      didDoc: created.didDoc,
      accessJwt: created.accessJwt,
      refreshJwt: created.refreshJwt,
    }
  },
})
