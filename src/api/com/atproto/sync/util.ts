// Shared by the com.atproto.sync.* read endpoints: the crawl switch, repo availability, and parameter formats.
import { isValidTid } from '@atproto/syntax'
import type { Request } from 'express'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { inactiveRepoError } from '../../../../account/account-status.ts'
import type { AccountRow } from '../../../../account/account-store.ts'
import type { AppContext } from '../../../../context.ts'
import { InvalidRequestError, MethodNotImplementedError } from '../../../../xrpc/errors.ts'

export const CAR_TYPE = 'application/vnd.ipld.car'

/** PDS_FEDERATION_CRAWL_ENABLED=false: these methods answer as if they did not exist. */
export function assertCrawlEnabled(ctx: AppContext): void {
  if (!ctx.cfg.federation.crawlEnabled) throw new MethodNotImplementedError()
}

/** A repo whose blobs may be served: getBlob stays on without the crawl switch, since apps load images with it. */
export async function availableBlobRepo(ctx: AppContext, req: Request, did: string): Promise<AccountRow> {
  const account = ctx.accounts.store.byDid(did)
  if (!account) throw repoNotFound(did)
  const inactive = inactiveRepoError(account)
  if (inactive && !(await isSelfOrAdmin(ctx, req, did))) throw inactive
  return account
}

/**
 * The account behind a sync `did` parameter, if its repo may be served to this caller. A deactivated or taken-down
 * repo is still served to the account itself and to the operator, as the reference does; credentials are only
 * checked when that matters.
 */
export async function availableRepo(ctx: AppContext, req: Request, did: string): Promise<AccountRow> {
  assertCrawlEnabled(ctx)
  const account = ctx.accounts.store.byDid(did)
  if (!account) throw new InvalidRequestError(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  const inactive = inactiveRepoError(account)
  if (inactive && !(await isSelfOrAdmin(ctx, req, did))) throw inactive
  return account
}

async function isSelfOrAdmin(ctx: AppContext, req: Request, did: string): Promise<boolean> {
  if (!req.headers.authorization) return false
  const auth = await ctx.auth.verify('accessOrAdmin', req)
  return auth.type === 'admin' || (auth.type === 'user' && auth.did === did)
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
