// The provider's view of an account (what its sign-in, consent and account pages show), as the reference's
// OAuthStore.buildAccount: DID, this PDS's DID, handle, email and whether it is confirmed, deactivation, and the
// profile's display name and avatar, read from the local record index (one indexed lookup, no network).
import type { Account } from '@atproto/oauth-provider/store'
import type { AccountRow, AccountStore } from '../account/account-store.ts'
import type { ImageUrl } from '../read-after-write/image-url.ts'
import type { RepoService } from '../repo/repo-service.ts'

const PROFILE_COLLECTION = 'app.bsky.actor.profile'

export type AccountViewDeps = {
  store: AccountStore
  repo: Pick<RepoService, 'readRecord'>
  /** The `pds` of every account: this service's DID. */
  serviceDid: string
  /** Where the avatar is shown from (the AppView's CDN, or our getBlob). */
  imageUrl: ImageUrl
}

export class AccountViews {
  private readonly deps: AccountViewDeps

  constructor(deps: AccountViewDeps) {
    this.deps = deps
  }

  /**
   * The account by DID, deactivated ones included; null when there is none or it is taken down (as the reference).
   * `withProfile: false` leaves out name and picture: what a token lookup needs, which runs on every OAuth-authorized
   * request (the reference reads the profile there too; we skip that read).
   */
  byDid(did: string, opts: { withProfile?: boolean } = {}): Account | null {
    const row = this.deps.store.byDid(did)
    return row && !row.takedown_ref ? this.build(row, opts) : null
  }

  build(row: AccountRow, { withProfile = true }: { withProfile?: boolean } = {}): Account {
    const account: Account = {
      did: row.did as Account['did'],
      pds: this.deps.serviceDid as Account['pds'],
      handle: row.handle as Account['handle'],
      email: row.email || undefined,
      emailVerified: row.email ? row.email_confirmed_at !== null : undefined,
      deactivated: row.deactivated_at !== null,
    }
    if (!withProfile) return account
    const profile = this.profile(row.did)
    if (profile?.displayName) account.name = profile.displayName
    if (profile?.avatarCid) account.picture = this.deps.imageUrl('avatar', row.did, profile.avatarCid)
    return account
  }

  /** Name and avatar CID from the stored profile record; undefined when there is none or it cannot be read. */
  private profile(did: string): { displayName?: string; avatarCid?: string } | undefined {
    let value: unknown
    try {
      value = this.deps.repo.readRecord(did, PROFILE_COLLECTION, 'self')?.value
    } catch {
      return undefined // a page that cannot show the picture still works
    }
    if (!value || typeof value !== 'object') return undefined
    const { displayName, avatar } = value as { displayName?: unknown; avatar?: { ref?: unknown } }
    // Stored as IPLD: the blob ref's `ref` is a CID object (or, in legacy records, a string `cid`).
    const ref = avatar?.ref ?? (avatar as { cid?: unknown } | undefined)?.cid
    return {
      displayName: typeof displayName === 'string' && displayName ? displayName : undefined,
      avatarCid: ref ? String(ref) : undefined,
    }
  }
}
