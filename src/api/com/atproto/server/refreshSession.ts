import { sessionOf } from '../../../../xrpc/auth.ts'
import { AuthRequiredError, InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { repoStatusOf } from '../../../../account/account-status.ts'
import { didDocFor } from './session-output.ts'

export default defineMethod({
  handler: async ({ ctx, auth }) => {
    const user = sessionOf(auth)
    const account = ctx.accounts.store.byDid(user.did)
    if (!account) throw new InvalidRequestError(`Could not find user info for account: ${user.did}`)
    if (account.takedown_ref) throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
    const rotated = await ctx.sessions.rotate({ did: user.did, sessionId: user.sessionId, ...user.refresh! })
    if (!rotated) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    return {
      ...rotated,
      did: account.did,
      handle: account.handle,
      didDoc: await didDocFor(ctx, account.did),
      ...repoStatusOf(account),
    }
  },
})
