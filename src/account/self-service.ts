// What an account's owner changes by proving they read its mailbox: confirming or changing the email address,
// resetting a forgotten password, deleting the account. Each "request" mails a code (src/account/email-tokens.ts)
// through the mailer; each change checks and spends it in the same transaction as the change, so that a code works
// once and a refused request changes nothing. The reference PDS's api/com/atproto/server/{requestEmailConfirmation,
// confirmEmail, requestEmailUpdate, updateEmail, requestPasswordReset, resetPassword, requestAccountDelete,
// deleteAccount}.js and account-manager/account-manager.js, with their errors; where we differ, the method says so.
import type { Db } from '../db/index.ts'
import { AuthRequiredError, InvalidRequestError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Mailer } from '../mailer/mailer.ts'
import type { AccountRow, AccountStore } from './account-store.ts'
import type { AccountStatusService, OAuthSessions } from './account-status.ts'
import type { EmailTokenPurpose, EmailTokenService } from './email-tokens.ts'
import { hashPassword, verifyPassword } from './passwords.ts'
import type { SessionService } from './sessions.ts'
import type { Now } from './tokens.ts'

/** The reference's password lengths (scrypt.js): a new password at most 256 characters, a checked one 512. */
export const NEW_PASSWORD_MAX_LENGTH = 256
export const OLD_PASSWORD_MAX_LENGTH = 512

export type SelfServiceDeps = {
  db: Db
  store: AccountStore
  tokens: EmailTokenService
  mailer: Mailer
  sessions: SessionService
  /** Ended with the XRPC sessions by a password reset. */
  oauthSessions: OAuthSessions
  accountStatus: AccountStatusService
  /** Whether an account may take an address: no other account and no signup in flight has it (AccountService). */
  emailAvailableTo: (did: string, email: string) => boolean
  log: Logger
  now: Now
}

export class SelfService {
  private readonly deps: SelfServiceDeps
  /** Password reset mails being prepared or sent after their request was answered (see requestPasswordReset). */
  private readonly inFlight = new Set<Promise<void>>()

  constructor(deps: SelfServiceDeps) {
    this.deps = deps
  }

  /** Mail a confirm_email code to the account's address. Rejects if the mail could not be sent (500). */
  async requestEmailConfirmation(did: string): Promise<void> {
    await this.mailCode(this.account(did), 'confirm_email')
  }

  /**
   * Mark the address confirmed. `email` must be the account's current address (else InvalidEmail), `token` its live
   * confirm_email code (else InvalidToken / ExpiredToken).
   */
  confirmEmail(did: string, email: string, token: string): void {
    const account = this.deps.store.byDid(did)
    if (!account) throw new InvalidRequestError('user not found', 'AccountNotFound')
    if (account.email !== email.toLowerCase()) throw new InvalidRequestError('invalid email', 'InvalidEmail')
    this.deps.db.transaction(() => {
      this.deps.tokens.consume(did, 'confirm_email', token)
      this.deps.store.setEmailConfirmedAt(did, new Date(this.deps.now()).toISOString())
    })()
  }

  /**
   * Start changing the address. Once it is confirmed, the change needs an update_email code, mailed to the current
   * address; before that anyone logged in may change it without one. `tokenRequired` says which.
   */
  async requestEmailUpdate(did: string): Promise<{ tokenRequired: boolean }> {
    const account = this.account(did)
    const tokenRequired = !!account.email_confirmed_at
    if (tokenRequired) await this.mailCode(account, 'update_email')
    return { tokenRequired }
  }

  /**
   * Change the address (stored lower-case, unconfirmed again). A confirmed address needs `token`, the live
   * update_email code (TokenRequired without one). An address another account has is refused. Every code mailed to
   * the old address stops working, as in the reference.
   */
  updateEmail(did: string, email: string, token: string | undefined): void {
    const account = this.account(did)
    const tokenRequired = !!account.email_confirmed_at
    if (tokenRequired && !token) throw new InvalidRequestError('confirmation token required', 'TokenRequired')
    this.deps.db.transaction(() => {
      // The code first, as the reference: without it, nobody learns whether an address is taken.
      if (tokenRequired) this.deps.tokens.consume(did, 'update_email', token!)
      if (!this.deps.emailAvailableTo(did, email)) {
        throw new InvalidRequestError('This email address is already in use, please use a different email.')
      }
      this.deps.store.setEmail(did, email)
      this.deps.tokens.deleteAllFor(did)
    })()
  }

  /**
   * Mail a reset_password code to the account with this address, if there is one. Unlike the reference (which
   * answers "account does not have an email address" when there is none), the answer is the same either way, and
   * comes before any of the work: the lookup, the code and the mail happen after the request is answered, so neither
   * its status nor its timing tells whether an address has an account. A failed send is logged, not answered.
   */
  requestPasswordReset(email: string): void {
    this.background('password reset mail', async () => {
      const account = this.deps.store.byEmail(email)
      if (account) await this.mailCode(account, 'reset_password')
    })
  }

  /**
   * Set a new password with a reset_password code (no login needed). Ends every session of the account, app
   * password sessions included, and so every access and refresh token, as the reference revokes its refresh tokens;
   * its OAuth sessions too (the reference leaves those). App passwords themselves stay.
   */
  async resetPassword(token: string, password: string): Promise<void> {
    if (password.length === 0 || password.length > NEW_PASSWORD_MAX_LENGTH) {
      throw new InvalidRequestError('Invalid password length.')
    }
    // Checked before hashing, so a wrong code costs no scrypt; checked again when spent, since hashing yields.
    const did = this.deps.tokens.accountFor('reset_password', token)
    const passwordScrypt = await hashPassword(password)
    this.deps.db.transaction(() => {
      this.deps.tokens.consume(did, 'reset_password', token)
      this.deps.store.setPassword(did, passwordScrypt)
      this.deps.sessions.deleteAllFor(did)
      this.deps.oauthSessions.deleteAllFor(did)
    })()
  }

  /** Mail a delete_account code to the account's address. */
  async requestAccountDelete(did: string): Promise<void> {
    await this.mailCode(this.account(did), 'delete_account')
  }

  /**
   * Delete the account with its password (the account's own, not an app password: AuthRequired otherwise) and its
   * live delete_account code. Removes what the operator's deletion removes (src/account/account-status.ts): repo,
   * records, blobs, sessions, preferences, codes, and its events but one `#account` (status deleted). Checked in the
   * reference's order, password before code; a refusal changes nothing.
   */
  async deleteAccount(did: string, password: string, token: string): Promise<void> {
    const account = this.account(did)
    if (password.length > OLD_PASSWORD_MAX_LENGTH) throw new InvalidRequestError('Invalid password length.')
    if (!(await verifyPassword(password, account.password_scrypt))) {
      throw new AuthRequiredError('Invalid did or password')
    }
    this.deps.tokens.assertValid(did, 'delete_account', token)
    // The code goes with the account (ON DELETE CASCADE); a second request racing this one finds no account.
    await this.deps.accountStatus.deleteAccount(did)
  }

  /** Resolves when every password reset mail already asked for has been handled (shutdown waits for it). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight])
  }

  private account(did: string): AccountRow {
    const account = this.deps.store.byDid(did)
    if (!account) throw new InvalidRequestError('account not found')
    return account
  }

  /**
   * Issue a code for `purpose` (replacing the account's earlier one) and mail it to the account's address; also how
   * PlcOperationService asks for plc_operation codes. Rejects if the mail could not be sent.
   */
  async mailCode(account: AccountRow, purpose: EmailTokenPurpose): Promise<void> {
    const token = this.deps.tokens.create(account.did, purpose)
    await this.deps.mailer.sendToken({ purpose, to: account.email, handle: account.handle, token })
  }

  /** Run `task` after the current request has been answered; log its failure. */
  private background(what: string, task: () => Promise<void>): void {
    const done: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(task)
      .catch((err) => this.deps.log.error({ err }, `${what} failed`))
      .finally(() => this.inFlight.delete(done))
    this.inFlight.add(done)
  }
}
