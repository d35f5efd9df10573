// SQL for the account table. Handles and emails are stored lower-case; lookups lower-case their input.
import type { Db } from '../db/index.ts'

export type AccountRow = {
  did: string
  handle: string
  email: string
  password_scrypt: string
  signing_key_hex: string
  created_at: string
  email_confirmed_at: string | null
  deactivated_at: string | null
  takedown_ref: string | null
  /** Set with deactivation: the owner's hint for when the account may be deleted (migrations/004). */
  delete_after?: string | null
  /** 1: barred from receiving new invite codes by the operator (disableAccountInvites; migrations/011). */
  invites_disabled: number
}

export type NewAccount = Pick<AccountRow, 'did' | 'handle' | 'email' | 'password_scrypt' | 'signing_key_hex'>

export class AccountStore {
  private readonly stmts

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO account (did, handle, email, password_scrypt, signing_key_hex, created_at)
         VALUES (@did, @handle, @email, @password_scrypt, @signing_key_hex, @created_at)`,
      ),
      byDid: db.prepare('SELECT * FROM account WHERE did = ?'),
      byHandle: db.prepare('SELECT * FROM account WHERE handle = ?'),
      byEmail: db.prepare('SELECT * FROM account WHERE email = ?'),
      count: db.prepare('SELECT count(*) AS n FROM account'),
      setHandle: db.prepare('UPDATE account SET handle = ? WHERE did = ?'),
      setDeactivated: db.prepare('UPDATE account SET deactivated_at = ?, delete_after = ? WHERE did = ?'),
      setTakedownRef: db.prepare('UPDATE account SET takedown_ref = ? WHERE did = ?'),
      setEmail: db.prepare('UPDATE account SET email = ?, email_confirmed_at = NULL WHERE did = ?'),
      setEmailConfirmedAt: db.prepare('UPDATE account SET email_confirmed_at = ? WHERE did = ?'),
      setPassword: db.prepare('UPDATE account SET password_scrypt = ? WHERE did = ?'),
      setInvitesDisabled: db.prepare('UPDATE account SET invites_disabled = ? WHERE did = ?'),
      byDids: db.prepare('SELECT * FROM account WHERE did IN (SELECT value FROM json_each(?))'),
      delete: db.prepare('DELETE FROM account WHERE did = ?'),
    }
  }

  insert(account: NewAccount): void {
    this.stmts.insert.run({ ...account, created_at: new Date().toISOString() })
  }

  byDid(did: string): AccountRow | undefined {
    return this.stmts.byDid.get(did) as AccountRow | undefined
  }

  byHandle(handle: string): AccountRow | undefined {
    return this.stmts.byHandle.get(handle.toLowerCase()) as AccountRow | undefined
  }

  byEmail(email: string): AccountRow | undefined {
    return this.stmts.byEmail.get(email.toLowerCase()) as AccountRow | undefined
  }

  /** The accounts among `dids` that exist, in no particular order. */
  byDids(dids: readonly string[]): AccountRow[] {
    return dids.length === 0 ? [] : (this.stmts.byDids.all(JSON.stringify(dids)) as AccountRow[])
  }

  /** A handle or DID, as XRPC `at-identifier` parameters allow. */
  byHandleOrDid(identifier: string): AccountRow | undefined {
    return identifier.startsWith('did:') ? this.byDid(identifier) : this.byHandle(identifier)
  }

  count(): number {
    return (this.stmts.count.get() as { n: number }).n
  }

  /** Give the account a new (lower-case) handle. False when there is no such account; throws if another holds it. */
  setHandle(did: string, handle: string): boolean {
    return this.stmts.setHandle.run(handle.toLowerCase(), did).changes > 0
  }

  /** Deactivate (a time) or reactivate (null). False when there is no such account. */
  setDeactivated(did: string, deactivatedAt: string | null, deleteAfter: string | null = null): boolean {
    return this.stmts.setDeactivated.run(deactivatedAt, deleteAfter, did).changes > 0
  }

  /** Take down (a reference) or restore (null). False when there is no such account. */
  setTakedownRef(did: string, ref: string | null): boolean {
    return this.stmts.setTakedownRef.run(ref, did).changes > 0
  }

  /** A new address, stored lower-case and not confirmed (the reference's updateEmail); the column is UNIQUE. */
  setEmail(did: string, email: string): void {
    this.stmts.setEmail.run(email.toLowerCase(), did)
  }

  /** Mark the address confirmed at `at` (ISO 8601). */
  setEmailConfirmedAt(did: string, at: string): void {
    this.stmts.setEmailConfirmedAt.run(at, did)
  }

  /** Replace the account password's stored hash ("salt:hash", src/account/passwords.ts). */
  setPassword(did: string, passwordScrypt: string): void {
    this.stmts.setPassword.run(passwordScrypt, did)
  }

  /** Bar the account from receiving new invite codes, or lift that. False when there is no such account. */
  setInvitesDisabled(did: string, disabled: boolean): boolean {
    return this.stmts.setInvitesDisabled.run(disabled ? 1 : 0, did).changes > 0
  }

  /** The account row; its sessions, app passwords, repo root and blob rows go with it (ON DELETE CASCADE). */
  delete(did: string): boolean {
    return this.stmts.delete.run(did).changes > 0
  }
}
