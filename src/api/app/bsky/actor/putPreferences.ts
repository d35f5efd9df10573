import { ValidationError } from '@atproto/lexicon'
import { z } from 'zod'
import { AuthScope } from '../../../../account/scopes.ts'
import { BSKY_NAMESPACE, type Preference } from '../../../../account/preferences.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { loadLexicons } from '../../../../repo/prepare.ts'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** Most preferences one account keeps (ours: the reference has only its 150 KiB body limit, which applies too). */
export const MAX_PREFERENCES = 100

/**
 * Replace the caller's app.bsky preferences. Checked against the published lexicon (an unknown app.bsky $type passes,
 * the union being open, as in the reference), then the namespace and, for app passwords, the private preferences.
 */
export default defineMethod({
  input: z.object({ preferences: z.array(z.record(z.string(), z.unknown())).max(MAX_PREFERENCES) }),
  handler: async ({ ctx, auth, input }) => {
    const user = userOf(auth)
    const lexicons = await loadLexicons()
    try {
      lexicons.assertValidXrpcInput('app.bsky.actor.putPreferences', input)
    } catch (err) {
      if (err instanceof ValidationError) throw new InvalidRequestError(err.message)
      throw err
    }
    // A real login only: neither app passwords nor OAuth tokens see or set the private ones (the reference's).
    const fullAccess = user.type === 'user' && user.scope === AuthScope.Access
    ctx.preferences.put(user.did, BSKY_NAMESPACE, input.preferences as Preference[], { fullAccess })
  },
})
