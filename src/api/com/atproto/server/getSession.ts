import { AuthScope } from '../../../../account/scopes.ts'
import { userOf } from '../../../../xrpc/auth.ts'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { sessionInfo } from './session-output.ts'

export default defineMethod({
  handler: async ({ ctx, auth }) => {
    const user = userOf(auth)
    const account = ctx.accounts.store.byDid(user.did)
    if (!account) throw new InvalidRequestError(`Could not find user info for account: ${user.did}`)
    // As the reference: an app password does not see the email; an OAuth token only with account:email read.
    const withEmail =
      user.type === 'oauth'
        ? user.permissions.allowsAccount({ attr: 'email', action: 'read' })
        : user.scope !== AuthScope.AppPass
    return sessionInfo(ctx, account, withEmail)
  },
})
