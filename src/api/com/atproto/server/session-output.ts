// What session endpoints say about an account, shared by createSession, getSession and refreshSession.
import type { AccountRow } from '../../../../account/account-store.ts'
import { repoStatusOf } from '../../../../account/account-status.ts'
import type { AppContext } from '../../../../context.ts'


/** The account's DID document, as the directory has it; omitted (like the reference) if it cannot be resolved. */
export async function didDocFor(ctx: AppContext, did: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await ctx.identity.didDoc(did)) ?? undefined
  } catch (err) {
    ctx.log.warn({ err, did }, 'could not resolve DID document for session')
    return undefined
  }
}

export async function sessionInfo(ctx: AppContext, account: AccountRow, withEmail: boolean) {
  return {
    did: account.did,
    handle: account.handle,
    didDoc: await didDocFor(ctx, account.did),
    ...(withEmail
      ? { email: account.email, emailConfirmed: !!account.email_confirmed_at, emailAuthFactor: false }
      : {}),
    ...repoStatusOf(account),
  }
}
