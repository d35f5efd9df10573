// What this PDS tells the public about its own handles (resolveHandle, /.well-known/atproto-did). As in the reference,
// only active accounts resolve: the handle of a taken-down, deactivated or deleted account answers as if nobody held
// it, so a suspended account cannot keep being found through us.
import { isServiceHandle } from '../identity/handles.ts'
import { repoStatusOf } from './account-status.ts'
import type { AccountStore } from './account-store.ts'

/**
 * The DID of the active account holding `handle` (lower-case). Null when no active account holds it but it is under
 * one of our service domains: the answer is "not found", and nobody outside should be asked. Undefined for any other
 * handle: not ours to answer.
 */
export function localHandleDid(
  store: AccountStore,
  serviceDomains: readonly string[],
  handle: string,
): string | null | undefined {
  const account = store.byHandle(handle)
  if (account && repoStatusOf(account).active) return account.did
  return isServiceHandle(handle, serviceDomains) ? null : undefined
}

/**
 * For a handle under our service domains, the DID of the active account holding it, or null; undefined for any other
 * handle. Unlike localHandleDid, an external handle held by one of our accounts is not answered: the database only
 * says it verified once, its DNS or web server says whether it still does.
 */
export function serviceHandleDid(
  store: AccountStore,
  serviceDomains: readonly string[],
  handle: string,
): string | null | undefined {
  return isServiceHandle(handle, serviceDomains) ? localHandleDid(store, serviceDomains, handle) : undefined
}
