// Invite codes: created by the operator, spent at signup when PDS_INVITE_REQUIRED is on.
import { randomBytes } from 'node:crypto'
import type { Db } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'

/** Codes one createInviteCodes call may make (codeCount × accounts): about 5 ms of inserts. */
export const MAX_INVITE_CODES_PER_REQUEST = 1000

export class InviteService {
  private readonly db: Db
  private readonly hostname: string
  private readonly stmts

  constructor(db: Db, hostname: string) {
    this.db = db
    this.hostname = hostname
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO invite_code (code, available_uses, for_account, created_by, created_at)
         VALUES (?, ?, ?, 'admin', ?)`,
      ),
      available: db.prepare(
        `SELECT ic.available_uses - (SELECT count(*) FROM invite_code_use u WHERE u.code = ic.code) AS left
         FROM invite_code ic WHERE ic.code = ? AND ic.disabled = 0`,
      ),
      use: db.prepare('INSERT INTO invite_code_use (code, used_by, used_at) VALUES (?, ?, ?)'),
    }
  }

  /** Codes look like the reference's: `<hostname with dashes>-<5>-<5>`. */
  private newCode(): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    const part = () => [...randomBytes(5)].map((b) => alphabet[b % 32]).join('')
    return `${this.hostname.replaceAll('.', '-')}-${part()}-${part()}`
  }

  /**
   * `codeCount` codes for each of `forAccounts`, in one transaction. At most MAX_INVITE_CODES_PER_REQUEST in all, or
   * InvalidRequest and nothing is written: the insert loop runs on the event loop, so its size is bounded.
   */
  create(useCount: number, forAccounts: readonly string[], codeCount: number): { account: string; codes: string[] }[] {
    const total = codeCount * forAccounts.length
    if (total > MAX_INVITE_CODES_PER_REQUEST) {
      throw new InvalidRequestError(
        `Too many invite codes: ${codeCount} × ${forAccounts.length} accounts = ${total} (at most ${MAX_INVITE_CODES_PER_REQUEST} per request)`,
      )
    }
    const now = new Date().toISOString()
    return this.db.transaction(() =>
      forAccounts.map((account) => {
        const codes = Array.from({ length: codeCount }, () => this.newCode())
        for (const code of codes) this.stmts.insert.run(code, useCount, account, now)
        return { account, codes }
      }),
    )()
  }

  /** `claimed`: uses already promised to signups in flight, which count as spent. */
  ensureAvailable(code: string, claimed = 0): void {
    const row = this.stmts.available.get(code) as { left: number } | undefined
    if (!row || row.left - claimed < 1) throw new InvalidRequestError('Provided invite code not available', 'InvalidInviteCode')
  }

  /** Spend one use. Call inside the account-creation transaction, after ensureAvailable. */
  recordUse(code: string, did: string): void {
    this.ensureAvailable(code)
    this.stmts.use.run(code, did, new Date().toISOString())
  }
}
