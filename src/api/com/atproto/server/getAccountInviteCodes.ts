import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { queryBool } from '../../../../xrpc/schemas.ts'

/**
 * The caller's own invite codes with their uses, disabled ones left out, used-up ones too unless `includeUsed`.
 * `createAvailable` is accepted but creates nothing: this PDS has no per-account invite interval (the reference
 * creates codes only when one is configured).
 */
export default defineMethod({
  params: z.object({
    includeUsed: queryBool.default(true),
    createAvailable: queryBool.default(true),
  }),
  handler: ({ ctx, auth, params }) => {
    const codes = ctx.invites
      .listForAccount(userOf(auth).did)
      .filter((code) => !code.disabled && (params.includeUsed || code.uses.length < code.available))
    return { codes }
  },
})
