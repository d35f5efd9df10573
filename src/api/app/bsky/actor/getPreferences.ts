import { AuthScope } from '../../../../account/scopes.ts'
import { BSKY_NAMESPACE } from '../../../../account/preferences.ts'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/** The caller's app.bsky preferences; an app password does not see the private ones (personalDetailsPref). */
export default defineMethod({
  handler: ({ ctx, auth }) => {
    const user = userOf(auth)
    // A real login only: neither app passwords nor OAuth tokens see or set the private ones (the reference's).
    const fullAccess = user.type === 'user' && user.scope === AuthScope.Access
    return { preferences: ctx.preferences.get(user.did, BSKY_NAMESPACE, { fullAccess }) }
  },
})
