import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { didKey, email } from '../../../../xrpc/schemas.ts'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'

const input = z.object({
  handle: z.string(),
  email,
  password: z.string().min(1).max(256, 'Password too long. Maximum length is 256 characters.'),
  inviteCode: z.string().max(256).optional(),
  recoveryKey: didKey.optional(),
  did: z.string().optional(),
  verificationCode: z.string().optional(),
  verificationPhone: z.string().optional(),
  plcOp: z.unknown().optional(),
})

export default defineMethod({
  input,
  handler: async ({ ctx, input }) => {
    // Migrating an existing DID in (`did`, `plcOp`) needs service auth from the old PDS; not offered yet.
    if (input.did !== undefined) throw new InvalidRequestError('Unsupported input: "did" (account migration)')
    if (input.plcOp !== undefined) throw new InvalidRequestError('Unsupported input: "plcOp"')
    const created = await ctx.accounts.createAccount(input)
    return {
      handle: created.handle,
      did: created.did,
      didDoc: created.didDoc,
      accessJwt: created.accessJwt,
      refreshJwt: created.refreshJwt,
    }
  },
})
