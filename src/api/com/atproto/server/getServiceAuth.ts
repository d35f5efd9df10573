import { isValidNsid } from '@atproto/syntax'
import { z } from 'zod'
import { isPrivilegedScope } from '../../../../account/scopes.ts'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/** A service JWT signed with the caller's repo key, for `aud` (and only `lxm`, if given); rules in ServiceAuth. */
export default defineMethod({
  params: z.object({
    aud: did,
    lxm: z
      .string()
      .refine((s) => isValidNsid(s), { message: 'must be a valid NSID' })
      .optional(),
    // epoch seconds
    exp: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  handler: async ({ ctx, auth, params }) => {
    const user = userOf(auth)
    const token = await ctx.serviceAuth.createForClient({
      did: user.did,
      // An OAuth token's rpc permission for this very method and audience was checked by the route (serviceAuth).
      privileged: user.type === 'oauth' || isPrivilegedScope(user.scope),
      aud: params.aud,
      lxm: params.lxm ?? null,
      exp: params.exp,
    })
    return { token }
  },
})
