// Account status: deactivation, takedown, deletion. Each change and its firehose events commit in one transaction,
// so relays never hear of a status the database does not hold (or the reverse).
import type { BlobStore } from '../blob/blob-store.ts'
import type { Db } from '../db/index.ts'
import type { PlcService } from '../identity/plc.ts'
import type { IdentityResolver } from '../identity/resolver.ts'
import { keypairFromHex } from '../identity/keys.ts'
import type { RepoService } from '../repo/repo-service.ts'
import { accountEventBody, identityEventBody, syncEventBody } from '../protocol/events.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { InvalidRequestError, UpstreamFailureError } from '../errors.ts'
import type { AccountRow, AccountStore } from './account-store.ts'
import type { SessionService } from './sessions.ts'

/** The status strings of `#account` events and sync.listRepos/getRepoStatus. */
export type InactiveStatus = 'takendown' | 'suspended' | 'deleted' | 'deactivated' | 'desynchronized' | 'throttled'
export type RepoStatus = { active: true; status?: undefined } | { active: false; status: InactiveStatus }

/** The reference's precedence: no account → deleted; then takedown; then deactivation. */
export function repoStatusOf(account: Pick<AccountRow, 'takedown_ref' | 'deactivated_at'> | undefined): RepoStatus {
  if (!account) return { active: false, status: 'deleted' }
  if (account.takedown_ref) return { active: false, status: 'takendown' }
  if (account.deactivated_at) return { active: false, status: 'deactivated' }
  return { active: true }
}

/** The error a public read of an inactive repo gets (RepoTakendown / RepoDeactivated), or null if it is active. */
export function inactiveRepoError(account: AccountRow): InvalidRequestError | null {
  if (account.takedown_ref) return new InvalidRequestError(`Repo has been takendown: ${account.did}`, 'RepoTakendown')
  if (account.deactivated_at) return new InvalidRequestError(`Repo has been deactivated: ${account.did}`, 'RepoDeactivated')
  return null
}

export type StatusAttr = { applied: boolean; ref?: string }

/** Ends an account's OAuth sessions: its access tokens are refused at once, its refresh tokens too. */
export type OAuthSessions = { deleteAllFor(did: string): void }

export type AccountStatusDeps = {
  db: Db
  store: AccountStore
  sequencer: Sequencer
  sessions: SessionService
  /** The account's OAuth sessions (src/oauth/token-store.ts), ended with its XRPC sessions on a takedown. */
  oauthSessions: OAuthSessions
  repo: RepoService
  blobStore: BlobStore
  identity: IdentityResolver
  /** For did:plc accounts, whether the directory still lists our rotation key (checkAccountStatus's validDid). */
  plc: PlcService
  publicUrl: string
}

export class AccountStatusService {
  private readonly deps: AccountStatusDeps
  private readonly stmts

  constructor(deps: AccountStatusDeps) {
    this.deps = deps
    const { db } = deps
    this.stmts = {
      listRepos: db.prepare(
        `SELECT a.did, a.created_at, a.deactivated_at, a.takedown_ref, r.cid AS head, r.rev
         FROM account a JOIN repo_root r ON r.did = a.did
         WHERE (a.created_at, a.did) > (?, ?) ORDER BY a.created_at, a.did LIMIT ?`,
      ),
    }
  }

  private account(did: string): AccountRow {
    const account = this.deps.store.byDid(did)
    if (!account) throw new InvalidRequestError(`Account not found: ${did}`, 'AccountNotFound')
    return account
  }

  private sequenceStatusNow(did: string): RepoStatus {
    const status = repoStatusOf(this.deps.store.byDid(did))
    this.deps.sequencer.append(did, 'account', accountEventBody(did, status.active, status.status))
    return status
  }

  /** Stop serving the repo and accepting writes. Sessions stay, so the owner can reactivate. */
  deactivate(did: string, deleteAfter?: string): RepoStatus {
    return this.deps.sequencer.writeTransaction(() => {
      this.account(did)
      this.deps.store.setDeactivated(did, new Date().toISOString(), deleteAfter ?? null)
      return this.sequenceStatusNow(did)
    })
  }

  /**
   * Serve the repo again, after checking that the DID document names this PDS and the account's key and, for a
   * did:plc, that the directory still lists our rotation key (the reference's guard, which makes it the last step of
   * a migration here). Sequences #account, #identity and #sync like the reference; an imported head commit is
   * re-signed with the account's key first (RepoService.withOwnSignedHead), so the #sync verifies against the DID
   * document. Errors: AccountNotFound (taken down), the DID document checks (400), an unreachable directory (502).
   */
  async activate(did: string): Promise<RepoStatus> {
    const before = this.account(did)
    if (before.takedown_ref) throw new InvalidRequestError('Account has been taken down', 'AccountNotFound')
    await this.assertDidDocForService(before)
    return this.deps.repo.withOwnSignedHead(did, (head) => {
      const account = this.account(did)
      if (account.takedown_ref) throw new InvalidRequestError('Account has been taken down', 'AccountNotFound')
      this.deps.store.setDeactivated(did, null)
      const status = this.sequenceStatusNow(did)
      this.deps.sequencer.append(did, 'identity', identityEventBody(did, account.handle))
      // Read inside the transaction, so the #sync names the same commit a concurrent write would follow.
      if (head) this.deps.sequencer.append(did, 'sync', syncEventBody(did, head))
      return status
    })
  }

  /**
   * Apply or lift a takedown. Applying it also ends every session of the account, OAuth ones included (as the
   * reference's takedownAccount).
   */
  setTakedown(did: string, takedown: StatusAttr): RepoStatus {
    return this.deps.sequencer.writeTransaction(() => {
      this.account(did)
      const ref = takedown.applied ? (takedown.ref ?? new Date().toISOString()) : null
      this.deps.store.setTakedownRef(did, ref)
      if (takedown.applied) {
        this.deps.sessions.deleteAllFor(did)
        this.deps.oauthSessions.deleteAllFor(did)
      }
      return this.sequenceStatusNow(did)
    })
  }

  /** Sequence the account's current status again (admin updateSubjectStatus without changes does this). */
  sequenceStatus(did: string): RepoStatus {
    return this.deps.sequencer.writeTransaction(() => {
      this.account(did)
      return this.sequenceStatusNow(did)
    })
  }

  /**
   * Delete the account and everything it stored. Like the reference, its earlier events leave the log and one
   * `#account` (active=false, status=deleted) stays as the tombstone relays see. Its sessions, OAuth sessions,
   * consents and signed-in devices go with the account row (ON DELETE CASCADE, migrations/010).
   */
  async deleteAccount(did: string): Promise<void> {
    this.account(did)
    await this.deps.repo.deleteRepo(did, () => {
      this.account(did)
      this.deps.sequencer.deleteEventsOf(did)
      this.deps.store.delete(did)
      this.deps.sequencer.append(did, 'account', accountEventBody(did, false, 'deleted'))
    })
    // Like the reference, answer only once the bytes are gone too.
    await this.deps.blobStore.deleteAll(did)
  }

  /** Repos with a root in (created_at, did) order after `after`, for sync.listRepos. */
  listRepos(after: { createdAt: string; did: string } | null, limit: number) {
    const rows = this.stmts.listRepos.all(after?.createdAt ?? '', after?.did ?? '', limit) as {
      did: string
      created_at: string
      deactivated_at: string | null
      takedown_ref: string | null
      head: string
      rev: string
    }[]
    return rows.map((row) => ({ ...row, ...repoStatusOf(row) }))
  }

  /** The reference's isAccountActivated: the account exists and is not deactivated (a takedown does not count). */
  isActivated(did: string): boolean {
    const account = this.deps.store.byDid(did)
    return account !== undefined && !account.deactivated_at
  }

  /**
   * Whether the DID document names this PDS and the account's signing key, and, for a did:plc, the directory still
   * lists our rotation key (checkAccountStatus's validDid, the reference's rules): false, never an error, when it
   * does not or cannot be resolved.
   */
  async didDocIsValid(did: string): Promise<boolean> {
    try {
      await this.assertDidDocForService(this.account(did))
      return true
    } catch {
      return false
    }
  }

  /** The reference's assertValidDidDocumentForService: our rotation key (did:plc), then endpoint and signing key. */
  private async assertDidDocForService(account: AccountRow): Promise<void> {
    if (account.did.startsWith('did:plc:') && !(await this.deps.plc.holdsOurRotationKey(account.did))) {
      throw new InvalidRequestError('Server rotation key not included in PLC DID data')
    }
    await this.assertDidDocPointsHere(account)
  }

  private async assertDidDocPointsHere(account: AccountRow): Promise<void> {
    let data: { pds: string; signingKey: string }
    try {
      data = await this.deps.identity.atprotoData(account.did, true)
    } catch (err) {
      throw new UpstreamFailureError(`Could not resolve the DID document of ${account.did}: ${(err as Error).message}`)
    }
    if (data.pds !== this.deps.publicUrl) {
      throw new InvalidRequestError('DID document atproto_pds service endpoint does not match PDS public url')
    }
    const key = await keypairFromHex(account.signing_key_hex)
    if (data.signingKey !== key.did()) {
      throw new InvalidRequestError('DID document verification method does not match expected signing key')
    }
  }
}
