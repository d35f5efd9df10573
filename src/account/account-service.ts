// Account lifecycle: signup (keys, did:plc registration, repo, rows), accounts migrating here with their own DID, and
// login. Signup registers the DID first and only then writes the account and its first commit in one transaction, so
// a directory that refuses or is down leaves no account behind; what it needs unique is claimed before that, so that
// no DID is registered for a signup that then loses a race.
import type { Config } from '../config/index.ts'
import { normalizeServiceHandle, validateHandleForDid } from '../identity/handles.ts'
import { newSigningKey } from '../identity/keys.ts'
import { PlcService } from '../identity/plc.ts'
import type { IdentityResolver } from '../identity/resolver.ts'
import type { RepoService } from '../repo/repo-service.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { AuthRequiredError, InvalidRequestError } from '../errors.ts'
import type { AccountRow, AccountStore } from './account-store.ts'
import type { AppPasswordService } from './app-passwords.ts'
import type { HandleClaims } from './handle-claims.ts'
import type { InviteService } from './invites.ts'
import { hashPassword, UNMATCHABLE_PASSWORD_HASH, verifyPassword } from './passwords.ts'
import type { SessionService, SessionTokens } from './sessions.ts'

export type CreateAccountInput = {
  handle: string
  email: string
  password: string
  inviteCode?: string
  recoveryKey?: string
}

/** `didDoc`: the DID document (a new DID's, from its genesis operation; a migrating DID's as resolved, if it was). */
export type CreatedAccount = SessionTokens & { did: string; handle: string; didDoc: unknown }

export type Login = SessionTokens & { account: AccountRow; appPassword: { name: string; privileged: boolean } | null }

export class AccountService {
  readonly store: AccountStore
  private readonly cfg: Config
  private readonly plc: PlcService
  /** Handles and DID documents of accounts migrating here. */
  private readonly identity: IdentityResolver
  private readonly sessions: SessionService
  private readonly invites: InviteService
  private readonly appPasswords: AppPasswordService
  private readonly repo: RepoService
  private readonly sequencer: Sequencer
  /** Handles claimed by requests in flight: signups here, handle changes in HandleService. */
  private readonly handleClaims: HandleClaims
  /**
   * What signups in flight have claimed besides their handle (see createAccount): emails, invite uses per code, and
   * the DIDs migrating accounts bring.
   */
  private readonly pending = {
    emails: new Set<string>(),
    inviteUses: new Map<string, number>(),
    dids: new Set<string>(),
  }

  constructor(deps: {
    cfg: Config
    store: AccountStore
    plc: PlcService
    identity: IdentityResolver
    sessions: SessionService
    invites: InviteService
    appPasswords: AppPasswordService
    repo: RepoService
    sequencer: Sequencer
    handleClaims: HandleClaims
  }) {
    this.cfg = deps.cfg
    this.store = deps.store
    this.plc = deps.plc
    this.identity = deps.identity
    this.sessions = deps.sessions
    this.invites = deps.invites
    this.appPasswords = deps.appPasswords
    this.repo = deps.repo
    this.sequencer = deps.sequencer
    this.handleClaims = deps.handleClaims
  }

  /**
   * Signup. The handle, the email and one use of the invite code are claimed before the PLC round trip and released
   * after the account row is written (or the signup failed): a concurrent signup for any of them is refused at once,
   * with the same 400 as if the account existed, and never registers a DID that could not become an account.
   */
  async createAccount(input: CreateAccountInput): Promise<CreatedAccount> {
    this.requireInviteCode(input)
    const handle = normalizeServiceHandle(input.handle, this.cfg.serviceHandleDomains)
    return this.register(input, handle, null, async (signingKeyDid) => {
      const { did, op } = await this.plc.createGenesisOp({ signingKeyDid, handle, recoveryKey: input.recoveryKey })
      await this.plc.submit(did, op)
      return { did, didDoc: await PlcService.didDocOf(did, op) }
    })
  }

  /**
   * An account arriving with its DID (migration in; the caller has checked the old PDS's service JWT for it), as the
   * reference's createAccount does with `did`: the handle may be under a service domain or any domain that resolves to
   * the DID; no PLC operation; a new repo signing key is made here, which the DID document does not name yet (its
   * owner puts it there with a PLC operation before activateAccount); the account starts deactivated with an empty
   * repo, and nothing is sequenced until it is activated. `didDoc`: the DID's current document, if it resolves.
   * Errors (400) besides signup's: 'External handle did not resolve to DID', an account for the DID already here.
   */
  async createMigratedAccount(input: CreateAccountInput & { did: string }): Promise<CreatedAccount> {
    this.requireInviteCode(input)
    const { did } = input
    const resolveHandle = (h: string) => this.identity.handle(h)
    const handle = await validateHandleForDid(input.handle, did, this.cfg.serviceHandleDomains, resolveHandle)
    return this.register(input, handle, did, async () => ({
      did,
      didDoc: (await this.identity.didDoc(did, true).catch(() => null)) ?? undefined,
    }))
  }

  /**
   * Both kinds of creation: checks and claims (handle, email, invite use, a brought DID), the account's keys and
   * password hash, then `identify` (given the new signing key's did:key: the DID and its document), and one
   * transaction for the account, session, invite use and first commit, with the creation events for a new DID or
   * deactivated without any for a migrating one (`broughtDid`).
   */
  private async register(
    input: CreateAccountInput,
    handle: string,
    broughtDid: string | null,
    identify: (signingKeyDid: string) => Promise<{ did: string; didDoc: unknown }>,
  ): Promise<CreatedAccount> {
    const email = input.email.toLowerCase()
    const inviteCode = this.cfg.inviteRequired ? input.inviteCode : undefined
    // Checks and claim in one synchronous step: no other signup runs in between.
    // A DID already here first: its handle and email would be "taken" too, by the same account.
    if (broughtDid && (this.store.byDid(broughtDid) || this.pending.dids.has(broughtDid))) {
      throw new InvalidRequestError(`An account already exists for ${broughtDid}`)
    }
    if (inviteCode) this.invites.ensureAvailable(inviteCode, this.pending.inviteUses.get(inviteCode) ?? 0)
    this.handleClaims.assertFree(handle)
    if (this.store.byEmail(email) || this.pending.emails.has(email)) {
      throw new InvalidRequestError(`Email already taken: ${email}`)
    }
    const release = this.claim(handle, email, inviteCode, broughtDid)
    try {
      const [signingKey, passwordHash] = await Promise.all([newSigningKey(), hashPassword(input.password)])
      const { did, didDoc } = await identify(signingKey.keypair.did())
      const [session, init] = await Promise.all([
        this.sessions.mint(did, null),
        this.repo.prepareInit(did, signingKey.keypair),
      ])
      // Account, session, invite use, first commit and (for a new DID) the four creation events: all or nothing.
      this.sequencer.writeTransaction(() => {
        if (inviteCode) this.invites.recordUse(inviteCode, did)
        this.store.insert({
          did,
          handle,
          email,
          password_scrypt: passwordHash,
          signing_key_hex: signingKey.hex,
        })
        session.save()
        if (broughtDid) {
          this.store.setDeactivated(did, new Date().toISOString())
          this.repo.storeInit(did, init)
        } else {
          this.repo.applyInit(did, handle, init)
        }
      })
      return { did, handle, didDoc, ...session.tokens }
    } finally {
      release()
    }
  }

  /** First, as in the reference: without a code, nothing else about the request matters. */
  private requireInviteCode(input: CreateAccountInput): void {
    if (this.cfg.inviteRequired && !input.inviteCode) {
      throw new InvalidRequestError('No invite code provided', 'InvalidInviteCode')
    }
  }

  /** Whether `did` may take `email`: no other account has it and no signup in flight has claimed it. */
  emailAvailableTo(did: string, email: string): boolean {
    const owner = this.store.byEmail(email)
    return (!owner || owner.did === did) && !this.pending.emails.has(email.toLowerCase())
  }

  /** Claim a signup's handle, email, invite use and brought DID until the returned function is called. */
  private claim(handle: string, email: string, inviteCode: string | undefined, did: string | null): () => void {
    const { emails, inviteUses, dids } = this.pending
    const releaseHandle = this.handleClaims.hold(handle)
    emails.add(email)
    if (did) dids.add(did)
    if (inviteCode) inviteUses.set(inviteCode, (inviteUses.get(inviteCode) ?? 0) + 1)
    return () => {
      releaseHandle()
      emails.delete(email)
      if (did) dids.delete(did)
      if (!inviteCode) return
      const left = inviteUses.get(inviteCode)! - 1
      if (left > 0) inviteUses.set(inviteCode, left)
      else inviteUses.delete(inviteCode)
    }
  }

  /**
   * identifier: handle, email or DID; password: the account password or one of its app passwords. A failed login
   * answers AuthRequired 'Invalid identifier or password' after the same work whatever failed: both checks always
   * run, in parallel, against a stand-in hash and DID when the identifier matches no account. So its timing tells
   * neither whether the account exists nor whether it has app passwords. (The reference instead pads every login to
   * 350 ms, which hides nothing once the hashing queue is longer than that.)
   */
  /** The account a login identifier (handle, email or DID, any case, surrounding spaces ignored) names, if any. */
  byLoginIdentifier(identifier: string): AccountRow | undefined {
    const id = identifier.trim().toLowerCase()
    if (id.startsWith('did:')) return this.store.byDid(identifier.trim())
    return id.includes('@') ? this.store.byEmail(id) : this.store.byHandle(id)
  }

  async login(identifier: string, password: string): Promise<Login> {
    const { account, appPassword } = await this.checkLogin(identifier, password)
    const tokens = await this.sessions.create(account.did, appPassword)
    return { account, appPassword, ...tokens }
  }

  /**
   * `login`'s checks without a session (OAuth sign-in, src/oauth/account-store.ts): the account, and the app password
   * the password matched (null: the account password). Same errors, same timing.
   */
  async checkLogin(identifier: string, password: string): Promise<Omit<Login, keyof SessionTokens>> {
    const account = this.byLoginIdentifier(identifier)
    const [isAccountPassword, appPassword] = await Promise.all([
      verifyPassword(password, account?.password_scrypt ?? UNMATCHABLE_PASSWORD_HASH),
      this.appPasswords.match(account?.did ?? NO_ACCOUNT_DID, password),
    ])
    if (!account || (!isAccountPassword && !appPassword)) {
      throw new AuthRequiredError('Invalid identifier or password')
    }
    if (account.takedown_ref) throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
    // The account password wins: an app password that happens to be equal to it gives no narrower session.
    return { account, appPassword: isAccountPassword ? null : appPassword }
  }
}

/** The app-password salt for identifiers with no account: no account can have this DID. */
const NO_ACCOUNT_DID = 'did:invalid:no-account'
