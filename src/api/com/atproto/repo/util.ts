// Shared by the com.atproto.repo.* handlers: who may write to which repo, and records as lexicon JSON.
import { ipldToLex, lexToJson } from '@atproto/lexicon'
import type { RepoPermissionMatch } from '@atproto/oauth-scopes'
import { inactiveRepoError } from '../../../../account/account-status.ts'
import type { AccountRow } from '../../../../account/account-store.ts'
import type { AppContext } from '../../../../context.ts'
import { accountDid, type Credentials } from '../../../../xrpc/auth.ts'
import { AuthRequiredError, InvalidRequestError } from '../../../../xrpc/errors.ts'

/** The account behind a `repo` parameter (handle or DID). */
export function findRepoAccount(ctx: AppContext, repo: string): AccountRow {
  const account = ctx.accounts.store.byHandleOrDid(repo)
  if (!account) throw new InvalidRequestError(`Could not find repo: ${repo}`, 'RepoNotFound')
  return account
}

/** A repo the public may read: taken-down and deactivated repos are not shown (as in the reference). */
export function findReadableRepo(ctx: AppContext, repo: string): AccountRow {
  const account = findRepoAccount(ctx, repo)
  const inactive = inactiveRepoError(account)
  if (inactive) throw inactive
  return account
}

/**
 * Only the repo's own account writes to it. Not the operator either (as in the reference): the admin password takes
 * accounts down, deletes and manages them, but a leaked one must not be able to post as anyone.
 */
export function repoForWrite(ctx: AppContext, auth: Credentials, repo: string): AccountRow {
  const account = findRepoAccount(ctx, repo)
  if (accountDid(auth) !== account.did) throw new AuthRequiredError('Cannot write to another repo')
  assertNotTakenDown(account)
  if (account.deactivated_at) throw new AuthRequiredError('Account is deactivated', 'AccountDeactivated')
  return account
}

/**
 * The caller's own account, for what an account migrating here does while still deactivated (uploadBlob,
 * importRepo): refused only when taken down, as the reference's `checkTakedown` (401 AccountTakedown).
 */
export function ownAccountForUpload(ctx: AppContext, auth: Credentials): AccountRow {
  const did = accountDid(auth)
  if (did === null) throw new AuthRequiredError()
  const account = findRepoAccount(ctx, did)
  assertNotTakenDown(account)
  return account
}

/**
 * An OAuth caller's `repo:<collection>?action=<action>` permission for each distinct write, as the reference checks
 * them in its handlers once the body is read (ScopeMissingError, 403, for the first one missing). Sessions pass.
 */
export function assertRepoWrites(auth: Credentials, writes: readonly RepoPermissionMatch[]): void {
  if (auth.type !== 'oauth') return
  const seen = new Set<string>()
  for (const w of writes) {
    const key = `${w.action} ${w.collection}`
    if (seen.has(key)) continue
    seen.add(key)
    auth.permissions.assertRepo(w)
  }
}

export function assertNotTakenDown(account: AccountRow): void {
  if (account.takedown_ref) throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
}

export function recordToJson(value: unknown): unknown {
  return lexToJson(ipldToLex(value as never))
}
