// Invite codes: created by the operator, spent at signup when PDS_INVITE_REQUIRED is on.
import { randomBytes } from 'node:crypto'
import type { Db } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'

/** Codes one createInviteCodes call may make (codeCount × accounts): about 5 ms of inserts. */
export const MAX_INVITE_CODES_PER_REQUEST = 1000

export type InviteCodeUse = { usedBy: string; usedAt: string }
export type InviteCode = {
  code: string
  available: number
  disabled: boolean
  forAccount: string
  createdBy: string
  createdAt: string
  uses: InviteCodeUse[]
}

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
      forAccount: db.prepare(
        `SELECT code, available_uses, disabled, for_account, created_by, created_at
         FROM invite_code WHERE for_account = ? ORDER BY created_at, code`,
      ),
      usesForAccount: db.prepare(
        `SELECT u.code, u.used_by, u.used_at FROM invite_code_use u JOIN invite_code ic ON ic.code = u.code
         WHERE ic.for_account = ? ORDER BY u.used_at DESC`,
      ),
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

  /** The codes made for `did`, each with its uses (newest first), shaped as the reference's InviteCode. */
  listForAccount(did: string): InviteCode[] {
    type CodeRow = { code: string; available_uses: number; disabled: number; for_account: string; created_by: string; created_at: string }
    type UseRow = { code: string; used_by: string; used_at: string }
    const uses = new Map<string, InviteCodeUse[]>()
    for (const use of this.stmts.usesForAccount.all(did) as UseRow[]) {
      const list = uses.get(use.code) ?? []
      list.push({ usedBy: use.used_by, usedAt: use.used_at })
      uses.set(use.code, list)
    }
    return (this.stmts.forAccount.all(did) as CodeRow[]).map((row) => ({
      code: row.code,
      available: row.available_uses,
      disabled: row.disabled === 1,
      forAccount: row.for_account,
      createdBy: row.created_by,
      createdAt: row.created_at,
      uses: uses.get(row.code) ?? [],
    }))
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
