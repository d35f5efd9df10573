import type { AccountRow } from '../../../../account/account-store.ts'
import { ForbiddenError, UpstreamFailureError } from '../../../../errors.ts'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { streamedBody } from '../../../../xrpc/request-body.ts'
import { assertNotTakenDown, ownAccountForUpload } from './util.ts'

/**
 * The caller's repo replaced by the CAR in the body (application/vnd.ipld.car, streamed, at most
 * PDS_MAX_REPO_IMPORT_SIZE decoded bytes): an account migrating here brings its repo from its old PDS. Verified and
 * swapped in one transaction (src/repo/repo-import.ts); no output. As the reference
 * (@atproto/pds api/com/atproto/repo/importRepo.js), with one more refusal: an account that is active here, whose
 * repo relays follow, gets a 400 (the reference imports anyway, and relays never hear of it).
 */
export default defineMethod({
  rawInput: true,
  handler: async ({ ctx, auth, req }) => {
    if (!ctx.cfg.repoImport.accepting) throw new InvalidRequestError('Service is not accepting repo imports')
    const account = ownAccountForUpload(ctx, auth)
    assertImportable(account)
    const car = streamedBody(req, 'application/vnd.ipld.car', ctx.cfg.repoImport.maxBytes)
    let signingKey: string
    try {
      signingKey = await ctx.identity.atprotoKey(account.did, true)
    } catch (err) {
      throw new UpstreamFailureError(`Could not resolve the signing key of ${account.did}: ${(err as Error).message}`)
    }
    await ctx.repo.importRepo({ did: account.did, car, signingKey, log: ctx.log }, () => {
      const now = ctx.accounts.store.byDid(account.did)
      if (!now) throw new ForbiddenError('Account not found', 'AccountNotFound')
      assertNotTakenDown(now)
      assertImportable(now)
    })
  },
})

function assertImportable(account: AccountRow): void {
  if (!account.deactivated_at) {
    throw new InvalidRequestError(
      'Account is active: a repo can only be imported into an account that is not yet activated (a migration in ' +
        'progress); deactivate it first to replace its repo',
    )
  }
}
