// What the operator does to accounts besides their status (takedown, deactivation and deletion are
// AccountStatusService's): read them with their invite codes, change their email address or password, bar them from
// new invite codes, mail them. As the reference PDS's api/com/atproto/admin/{getAccountInfo(s), updateAccountEmail, updateAccountPassword,
// enableAccountInvites, disableAccountInvites, sendEmail}.js and account-manager.js; where we differ, the method says.
import type { Db } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'
import type { Mailer } from '../mailer/mailer.ts'
import type { AccountRow, AccountStore } from './account-store.ts'
import type { EmailTokenService } from './email-tokens.ts'
import type { InviteCode, InviteService } from './invites.ts'
import { hashPassword } from './passwords.ts'
import { NEW_PASSWORD_MAX_LENGTH } from './self-service.ts'
import type { OAuthSessions } from './account-status.ts'
import type { SessionService } from './sessions.ts'

/** com.atproto.admin.defs#accountView, as the reference fills it for a PDS that manages its own invites. */
export type AccountView = {
  did: string
  handle: string
  email?: string
  indexedAt: string
  emailConfirmedAt?: string
  invitedBy?: InviteCode
  invites: InviteCode[]
  invitesDisabled: boolean
  deactivatedAt?: string
}

export type AccountAdminDeps = {
  db: Db
  store: AccountStore
  invites: InviteService
  sessions: SessionService
  /** Ended with the XRPC sessions when the operator sets the password. */
  oauthSessions: OAuthSessions
  emailTokens: EmailTokenService
  mailer: Mailer
  /** Whether an account may take an address: no other account and no signup in flight has it (AccountService). */
  emailAvailableTo: (did: string, email: string) => boolean
}

/** The reference's subject of an operator's mail when none is given. */
export const DEFAULT_OPERATOR_MAIL_SUBJECT = 'Message via your PDS'

export class AccountAdminService {
  private readonly deps: AccountAdminDeps

  constructor(deps: AccountAdminDeps) {
    this.deps = deps
  }

  /** The account's view with its invite codes, the code it signed up with and its flags; undefined if unknown. */
  accountInfo(did: string): AccountView | undefined {
    return this.accountInfos([did])[0]
  }

  /** The views of the accounts among `dids` that exist (deactivated and taken-down ones included), in `dids` order. */
  accountInfos(dids: readonly string[]): AccountView[] {
    const { store, invites } = this.deps
    const unique = [...new Set(dids)]
    const rows = new Map(store.byDids(unique).map((row) => [row.did, row]))
    const codes = invites.forAccounts(unique)
    const invitedBy = invites.invitedBy(unique)
    return unique.flatMap((did) => {
      const row = rows.get(did)
      return row ? [view(row, codes.get(did) ?? [], invitedBy.get(did))] : []
    })
  }

  /**
   * Give the account (`identifier`: handle or DID) a new address, stored lower-case and unconfirmed; every code mailed
   * to the old one stops working. Errors (400): 'Account does not exist: <identifier>', an address another account
   * has or a signup in flight claims (the reference answers that with a 500; we say what is wrong).
   */
  updateEmail(identifier: string, email: string): void {
    const { db, store, emailTokens } = this.deps
    const account = store.byHandleOrDid(identifier)
    if (!account) throw new InvalidRequestError(`Account does not exist: ${identifier}`)
    db.transaction(() => {
      if (!this.deps.emailAvailableTo(account.did, email)) {
        throw new InvalidRequestError('This email address is already in use, please use a different email.')
      }
      store.setEmail(account.did, email)
      emailTokens.deleteAllFor(account.did)
    })()
  }

  /**
   * Set the account's password. Like a password reset, it ends every session of the account (app-password ones too,
   * so every access and refresh token, and its OAuth sessions), and a pending reset code stops working; app passwords
   * themselves stay.
   * Errors (400): 'Invalid password length.' (empty, which the reference accepts, or over 256 characters),
   * 'Account not found' (the reference silently changes nothing).
   */
  async updatePassword(did: string, password: string): Promise<void> {
    const { db, store, sessions, oauthSessions, emailTokens } = this.deps
    if (password.length === 0 || password.length > NEW_PASSWORD_MAX_LENGTH) {
      throw new InvalidRequestError('Invalid password length.')
    }
    if (!store.byDid(did)) throw new InvalidRequestError('Account not found')
    const passwordScrypt = await hashPassword(password)
    db.transaction(() => {
      store.setPassword(did, passwordScrypt)
      emailTokens.delete(did, 'reset_password')
      sessions.deleteAllFor(did)
      oauthSessions.deleteAllFor(did)
    })()
  }

  /**
   * Bar the account from receiving new invite codes, or lift that; codes it has keep working. Unlike the reference,
   * an unknown DID is an error (400 'Account not found') rather than a silent no-op.
   */
  setInvitesDisabled(did: string, disabled: boolean): void {
    if (!this.deps.store.setInvitesDisabled(did, disabled)) throw new InvalidRequestError('Account not found')
  }

  /**
   * Mail `content` as plain text to the account's address (any status). `sent`: whether an SMTP server took it;
   * false without one (PDS_EMAIL_SMTP_URL unset: the text is logged), where the reference always says true.
   * Errors: 400 'Recipient not found'; a refusing SMTP server rejects (500).
   */
  async sendEmail(recipientDid: string, subject: string, content: string): Promise<{ sent: boolean }> {
    const account = this.deps.store.byDid(recipientDid)
    if (!account) throw new InvalidRequestError('Recipient not found')
    return { sent: await this.deps.mailer.sendText({ to: account.email, subject, text: content }) }
  }
}

function view(row: AccountRow, invites: InviteCode[], invitedBy: InviteCode | undefined): AccountView {
  return {
    did: row.did,
    handle: row.handle,
    email: row.email,
    indexedAt: row.created_at,
    ...(row.email_confirmed_at ? { emailConfirmedAt: row.email_confirmed_at } : {}),
    ...(invitedBy ? { invitedBy } : {}),
    invites,
    invitesDisabled: row.invites_disabled === 1,
    ...(row.deactivated_at ? { deactivatedAt: row.deactivated_at } : {}),
  }
}
