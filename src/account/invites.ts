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

type CodeRow = { code: string; available_uses: number; disabled: number; for_account: string; created_by: string; created_at: string }
const CODE_COLUMNS = 'code, available_uses, disabled, for_account, created_by, created_at'

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
      codesOf: db.prepare(
        `SELECT ${CODE_COLUMNS} FROM invite_code
         WHERE for_account IN (SELECT value FROM json_each(?)) ORDER BY created_at, code`,
      ),
      codesUsedBy: db.prepare(
        `SELECT ${CODE_COLUMNS} FROM invite_code
         WHERE code IN (SELECT code FROM invite_code_use WHERE used_by IN (SELECT value FROM json_each(?)))`,
      ),
      usesOf: db.prepare(
        `SELECT code, used_by, used_at FROM invite_code_use
         WHERE code IN (SELECT value FROM json_each(?)) ORDER BY used_at DESC`,
      ),
      // getInviteCodes' two orders, newest or most used first, each with the code as tie-breaker; a cursor resumes
      // after the last code of the previous page (the reference's keyset pagination).
      pageRecent: db.prepare(
        `SELECT ${CODE_COLUMNS} FROM invite_code
         WHERE @after IS NULL OR created_at < @primary OR (created_at = @primary AND code < @code)
         ORDER BY created_at DESC, code DESC LIMIT @limit`,
      ),
      pageUsage: db.prepare(
        `SELECT * FROM (SELECT ${CODE_COLUMNS}, (SELECT count(*) FROM invite_code_use u WHERE u.code = ic.code) AS use_count
           FROM invite_code ic)
         WHERE @after IS NULL OR use_count < @primary OR (use_count = @primary AND code < @code)
         ORDER BY use_count DESC, code DESC LIMIT @limit`,
      ),
      disableCodes: db.prepare('UPDATE invite_code SET disabled = 1 WHERE code IN (SELECT value FROM json_each(?))'),
      disableFor: db.prepare('UPDATE invite_code SET disabled = 1 WHERE for_account IN (SELECT value FROM json_each(?))'),
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
    return this.forAccounts([did]).get(did) ?? []
  }

  /** The codes made for each of `dids` (oldest first), with their uses; accounts without codes are absent. */
  forAccounts(dids: readonly string[]): Map<string, InviteCode[]> {
    const byAccount = new Map<string, InviteCode[]>()
    for (const code of this.withUses(this.stmts.codesOf.all(JSON.stringify(dids)) as CodeRow[])) {
      const list = byAccount.get(code.forAccount)
      if (list) list.push(code)
      else byAccount.set(code.forAccount, [code])
    }
    return byAccount
  }

  /** The code each of `dids` signed up with, by DID (the reference's getInvitedByForAccounts); others are absent. */
  invitedBy(dids: readonly string[]): Map<string, InviteCode> {
    const result = new Map<string, InviteCode>()
    const wanted = new Set(dids)
    for (const code of this.withUses(this.stmts.codesUsedBy.all(JSON.stringify(dids)) as CodeRow[])) {
      for (const use of code.uses) if (wanted.has(use.usedBy)) result.set(use.usedBy, code)
    }
    return result
  }

  /**
   * One page of every invite code (com.atproto.admin.getInviteCodes): `recent` newest first, or `usage` most used
   * first; `limit` codes at most; `cursor` the previous page's, in the reference's form (`<created ms>::<code>` or
   * `<uses>::<code>`). `cursor` of the result: absent on an empty page. InvalidRequest 'Malformed cursor'.
   */
  page(sort: 'recent' | 'usage', limit: number, cursor?: string): { cursor?: string; codes: InviteCode[] } {
    let after: { primary: string | number; code: string } | null = null
    if (cursor) {
      const [primary, code, ...rest] = cursor.split('::')
      const n = Number.parseInt(primary, 10)
      const at = sort === 'recent' ? new Date(n) : null
      if (!primary || !code || rest.length > 0 || Number.isNaN(n) || (at && Number.isNaN(at.getTime()))) {
        throw new InvalidRequestError('Malformed cursor')
      }
      after = { primary: at ? at.toISOString() : n, code }
    }
    const stmt = sort === 'recent' ? this.stmts.pageRecent : this.stmts.pageUsage
    const args = { after: after ? 1 : null, primary: after?.primary ?? null, code: after?.code ?? null, limit }
    const rows = stmt.all(args) as (CodeRow & { use_count?: number })[]
    const codes = this.withUses(rows)
    const last = rows.at(-1)
    if (!last) return { codes }
    const primary = sort === 'recent' ? String(new Date(last.created_at).getTime()) : String(last.use_count)
    return { cursor: `${primary}::${last.code}`, codes }
  }

  /** Disable the given codes and every code made for the given accounts, in one transaction. */
  disable(codes: readonly string[], accounts: readonly string[]): void {
    this.db.transaction(() => {
      if (codes.length > 0) this.stmts.disableCodes.run(JSON.stringify(codes))
      if (accounts.length > 0) this.stmts.disableFor.run(JSON.stringify(accounts))
    })()
  }

  /** Rows as the reference's InviteCode, each with its uses, newest first. */
  private withUses(rows: readonly CodeRow[]): InviteCode[] {
    type UseRow = { code: string; used_by: string; used_at: string }
    const uses = new Map<string, InviteCodeUse[]>()
    if (rows.length > 0) {
      for (const use of this.stmts.usesOf.all(JSON.stringify(rows.map((r) => r.code))) as UseRow[]) {
        const list = uses.get(use.code)
        const entry = { usedBy: use.used_by, usedAt: use.used_at }
        if (list) list.push(entry)
        else uses.set(use.code, [entry])
      }
    }
    return rows.map((row) => ({
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
