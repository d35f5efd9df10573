// Email tokens: the short codes mailed to an account's owner to prove they read its mailbox before we confirm the
// address, change it, reset the password, delete the account or sign a PLC operation for its DID. Like the reference PDS's
// (account-manager/helpers/email-token.js): two groups of five base32 characters, such as "ABCDE-FGHIJ" (50 random
// bits), compared case-insensitively, one live code per account and purpose (a new request replaces it), valid 15
// minutes; a code that does not match is InvalidToken, a matching one past its lifetime ExpiredToken, and a code is
// spent by the change it allows. Unlike the reference we store only a SHA-256 of each code, and compare digests in
// constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Db } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'
import type { Now } from './tokens.ts'

export type EmailTokenPurpose = 'confirm_email' | 'update_email' | 'reset_password' | 'delete_account' | 'plc_operation'

/** How long a code works after it was requested: the reference's 15 minutes. */
export const EMAIL_TOKEN_LIFETIME_MS = 15 * 60 * 1000

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** A fresh code, e.g. "K7QM2-XD4PA": 10 base32 characters (5 bits each from 10 random bytes, unbiased). */
export function newEmailToken(): string {
  const chars = [...randomBytes(10)].map((b) => ALPHABET[b & 31]).join('')
  return `${chars.slice(0, 5)}-${chars.slice(5)}`
}

/** What is stored and compared: SHA-256 of the code as typed, spaces around it dropped, in upper case. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token.trim().toUpperCase(), 'utf8').digest()
}

const NO_DIGEST = Buffer.alloc(32)

type TokenRow = { did: string; token_sha256: Buffer; requested_at: number }

export class EmailTokenService {
  private readonly now: Now
  private readonly stmts

  /** `now`: epoch ms, the same clock as session tokens (tests step it past the lifetime). */
  constructor(db: Db, now: Now = Date.now) {
    this.now = now
    this.stmts = {
      upsert: db.prepare(
        `INSERT INTO email_token (did, purpose, token_sha256, requested_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (did, purpose) DO UPDATE SET token_sha256 = excluded.token_sha256, requested_at = excluded.requested_at`,
      ),
      get: db.prepare('SELECT did, token_sha256, requested_at FROM email_token WHERE did = ? AND purpose = ?'),
      byDigest: db.prepare(
        'SELECT did, token_sha256, requested_at FROM email_token WHERE purpose = ? AND token_sha256 = ? LIMIT 1',
      ),
      delete: db.prepare('DELETE FROM email_token WHERE did = ? AND purpose = ?'),
      deleteAll: db.prepare('DELETE FROM email_token WHERE did = ?'),
      prune: db.prepare('DELETE FROM email_token WHERE requested_at <= ?'),
    }
  }

  /** Issue a new code for the account and purpose, replacing any earlier one. Returns the code to mail. */
  create(did: string, purpose: EmailTokenPurpose): string {
    const token = newEmailToken()
    this.stmts.upsert.run(did, purpose, digest(token), this.now())
    return token
  }

  /** Throws InvalidToken unless `token` is the account's live code for `purpose`, ExpiredToken if it is too old. */
  assertValid(did: string, purpose: EmailTokenPurpose, token: string): void {
    const row = this.stmts.get.get(did, purpose) as TokenRow | undefined
    // Compared whether or not there is a row, in constant time: how long this takes says nothing about the code.
    const matches = timingSafeEqual(row?.token_sha256 ?? NO_DIGEST, digest(token))
    this.assertLive(matches ? row : undefined)
  }

  /**
   * `assertValid`, then delete the code: call it inside the transaction that makes the change the code allows, so
   * that the code and the change go together and two requests cannot both spend it.
   */
  consume(did: string, purpose: EmailTokenPurpose, token: string): void {
    this.assertValid(did, purpose, token)
    this.stmts.delete.run(did, purpose)
  }

  /**
   * The account whose live code for `purpose` this is (resetPassword names no account). Throws like `assertValid`.
   * Found by its digest through an index: the lookup's timing depends on SHA-256 outputs, which tell a guesser
   * nothing about any code.
   */
  accountFor(purpose: EmailTokenPurpose, token: string): string {
    const row = this.stmts.byDigest.get(purpose, digest(token)) as TokenRow | undefined
    return this.assertLive(row).did
  }

  /** The account's code for `purpose`, if any (a password set by the operator: a pending reset must not undo it). */
  delete(did: string, purpose: EmailTokenPurpose): void {
    this.stmts.delete.run(did, purpose)
  }

  /** Every code of the account (its email address changed: codes mailed to the old one must not work). */
  deleteAllFor(did: string): void {
    this.stmts.deleteAll.run(did)
  }

  /** Delete codes past their lifetime (housekeeping). Returns how many. */
  pruneExpired(): number {
    return this.stmts.prune.run(this.now() - EMAIL_TOKEN_LIFETIME_MS).changes
  }

  private assertLive(row: TokenRow | undefined): TokenRow {
    if (!row) throw new InvalidRequestError('Token is invalid', 'InvalidToken')
    if (this.now() - row.requested_at >= EMAIL_TOKEN_LIFETIME_MS) {
      throw new InvalidRequestError('Token is expired', 'ExpiredToken')
    }
    return row
  }
}
