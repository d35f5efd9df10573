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
    return sessionInfo(ctx, account, user.scope !== AuthScope.AppPass)
  },
})
