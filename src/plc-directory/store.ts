// SQL for the embedded PLC directory's operation log (table plc_operation, migrations/002_plc_directory.sql).
import type { CompatibleOpOrTombstone } from '@did-plc/lib'
import type { Statement, Transaction } from 'better-sqlite3'
import type { Db } from '../db/index.ts'

/** One accepted operation; also the shape of an entry in `/log/audit`. */
export type StoredOp = {
  did: string
  operation: CompatibleOpOrTombstone
  cid: string
  nullified: boolean
  createdAt: string
}

type NewOp = Omit<StoredOp, 'nullified'>

type Row = { did: string; operation: string; cid: string; nullified: number; created_at: string }

export class PlcOpStore {
  private readonly selectLive: Statement<[string], Row>
  private readonly selectAll: Statement<[string], Row>
  private readonly selectLast: Statement<[string], Row>
  private readonly selectHead: Statement<[string], { head: number | null }>
  private readonly insert: Statement<[string, string, string, string]>
  private readonly nullify: Statement<[string, string]>
  private readonly appendTx: Transaction<(op: NewOp, nullifiedCids: string[], expectedHead: number | null) => boolean>

  constructor(db: Db) {
    const cols = 'did, operation, cid, nullified, created_at'
    this.selectLive = db.prepare(`SELECT ${cols} FROM plc_operation WHERE did = ? AND nullified = 0 ORDER BY seq`)
    this.selectAll = db.prepare(`SELECT ${cols} FROM plc_operation WHERE did = ? ORDER BY seq`)
    this.selectLast = db.prepare(
      `SELECT ${cols} FROM plc_operation WHERE did = ? AND nullified = 0 ORDER BY seq DESC LIMIT 1`,
    )
    this.selectHead = db.prepare('SELECT max(seq) AS head FROM plc_operation WHERE did = ?')
    this.insert = db.prepare('INSERT INTO plc_operation (did, cid, operation, created_at) VALUES (?, ?, ?, ?)')
    this.nullify = db.prepare('UPDATE plc_operation SET nullified = 1 WHERE did = ? AND cid = ?')
    this.appendTx = db.transaction((op: NewOp, nullifiedCids: string[], expectedHead: number | null) => {
      if (this.headSeq(op.did) !== expectedHead) return false
      for (const cid of nullifiedCids) this.nullify.run(op.did, cid)
      this.insert.run(op.did, op.cid, JSON.stringify(op.operation), op.createdAt)
      return true
    })
  }

  /** The DID's log in order: the live chain, or every op ever accepted (the audit log). */
  opsForDid(did: string, includeNullified = false): StoredOp[] {
    return (includeNullified ? this.selectAll : this.selectLive).all(did).map(fromRow)
  }

  lastOpForDid(did: string): StoredOp | null {
    const row = this.selectLast.get(did)
    return row ? fromRow(row) : null
  }

  /** The newest row written for the DID. Every append moves it, so a changed value means a concurrent write. */
  headSeq(did: string): number | null {
    return this.selectHead.get(did)?.head ?? null
  }

  /**
   * Nullify the ops a recovery forks away and insert the new op, atomically, provided nothing was appended for the
   * DID since `expectedHead` was read (validation is async, so another op may have landed meanwhile).
   * Returns false, writing nothing, when it was.
   */
  append(op: NewOp, nullifiedCids: string[], expectedHead: number | null): boolean {
    // IMMEDIATE: take the write lock before reading the head, so the check and the write see the same log.
    return this.appendTx.immediate(op, nullifiedCids, expectedHead)
  }
}

function fromRow(row: Row): StoredOp {
  return {
    did: row.did,
    operation: JSON.parse(row.operation) as CompatibleOpOrTombstone,
    cid: row.cid,
    nullified: row.nullified === 1,
    createdAt: row.created_at,
  }
}
