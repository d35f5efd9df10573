// Shared by the com.atproto.sync.* read endpoints: the crawl switch, repo availability, and parameter formats.
import { isValidTid } from '@atproto/syntax'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { inactiveRepoError } from '../../../../account/account-status.ts'
import type { AccountRow } from '../../../../account/account-store.ts'
import type { AppContext } from '../../../../context.ts'
import { accountDid, type Credentials } from '../../../../xrpc/auth.ts'
import { InvalidRequestError, MethodNotImplementedError } from '../../../../xrpc/errors.ts'

export const CAR_TYPE = 'application/vnd.ipld.car'

/** PDS_FEDERATION_CRAWL_ENABLED=false: these methods answer as if they did not exist. */
export function assertCrawlEnabled(ctx: AppContext): void {
  if (!ctx.cfg.federation.crawlEnabled) throw new MethodNotImplementedError()
}

/** A repo whose blobs may be served: getBlob stays on without the crawl switch, since apps load images with it. */
export function availableBlobRepo(ctx: AppContext, auth: Credentials, did: string): AccountRow {
  const account = ctx.accounts.store.byDid(did)
  if (!account) throw repoNotFound(did)
  const inactive = inactiveRepoError(account)
  if (inactive && !isSelfOrAdmin(auth, did)) throw inactive
  return account
}

/**
 * The account behind a sync `did` parameter, if its repo may be served to this caller (`optionalAccessOrAdmin`
 * routes). A deactivated or taken-down repo is still served to the account itself and to the operator, as the
 * reference does; credentials only count when that matters.
 */
export function availableRepo(ctx: AppContext, auth: Credentials, did: string): AccountRow {
  assertCrawlEnabled(ctx)
  return availableBlobRepo(ctx, auth, did)
}

function isSelfOrAdmin(auth: Credentials, did: string): boolean {
  if (auth.type === 'none' && auth.rejected) throw auth.rejected
  return auth.type === 'admin' || accountDid(auth) === did
}

export function repoNotFound(did: string): InvalidRequestError {
  return new InvalidRequestError(`Could not find repo for DID: ${did}`, 'RepoNotFound')
}

/** A repo revision (TID), as `since` takes it. */
export const rev = z.string().refine((s) => isValidTid(s), { message: 'must be a valid TID' })

/** A CID string, normalised: the form repo_block and blob rows are keyed by. */
export const cid = z.string().transform((s, zctx) => {
  try {
    return CID.parse(s)
  } catch {
    zctx.addIssue({ code: 'custom', message: 'must be a valid CID' })
    return z.NEVER
  }
})
