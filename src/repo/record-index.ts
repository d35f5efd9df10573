// The record table: which record (path → CID) each repo holds, for reads without walking the MST.
import type { Db } from '../db/index.ts'

export type RecordRow = { uri: string; did: string; collection: string; rkey: string; cid: string; rev: string }

/** A row with the time it was last written (ISO 8601, UTC, ms). */
export type TimedRecordRow = RecordRow & { indexed_at: string }

export class RecordIndex {
  private readonly stmts

  constructor(db: Db) {
    this.stmts = {
      put: db.prepare(
        `INSERT INTO record (uri, did, collection, rkey, cid, rev, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexed_at = excluded.indexed_at`,
      ),
      delete: db.prepare('DELETE FROM record WHERE uri = ?'),
      deleteRepo: db.prepare('DELETE FROM record WHERE did = ?'),
      get: db.prepare('SELECT * FROM record WHERE did = ? AND collection = ? AND rkey = ?'),
      cidInUse: db.prepare('SELECT 1 FROM record WHERE did = ? AND cid = ? LIMIT 1').pluck(),
      collections: db.prepare('SELECT DISTINCT collection FROM record WHERE did = ? ORDER BY collection').pluck(),
      listDesc: db.prepare(
        `SELECT * FROM record WHERE did = ? AND collection = ? AND rkey < ? ORDER BY rkey DESC LIMIT ?`,
      ),
      listAsc: db.prepare(`SELECT * FROM record WHERE did = ? AND collection = ? AND rkey > ? ORDER BY rkey ASC LIMIT ?`),
      count: db.prepare('SELECT count(*) FROM record WHERE did = ?').pluck(),
      // rev ties (one commit writing several records) break on uri, so the order is stable.
      sinceRev: db.prepare('SELECT * FROM record WHERE did = ? AND rev > ? ORDER BY rev ASC, uri ASC LIMIT ?'),
      atOrBeforeRev: db.prepare('SELECT 1 FROM record WHERE did = ? AND rev <= ? LIMIT 1').pluck(),
    }
  }

  put(row: RecordRow): void {
    this.stmts.put.run(row.uri, row.did, row.collection, row.rkey, row.cid, row.rev, new Date().toISOString())
  }

  delete(uri: string): void {
    this.stmts.delete.run(uri)
  }

  /** Forget every record of a repo (its deletion). */
  deleteRepo(did: string): void {
    this.stmts.deleteRepo.run(did)
  }

  get(did: string, collection: string, rkey: string): RecordRow | undefined {
    return this.stmts.get.get(did, collection, rkey) as RecordRow | undefined
  }

  cidInUse(did: string, cid: string): boolean {
    return this.stmts.cidInUse.get(did, cid) !== undefined
  }

  collections(did: string): string[] {
    return this.stmts.collections.all(did) as string[]
  }

  /** Newest rkey first unless `reverse`; `cursor` is the last rkey of the previous page. */
  list(did: string, collection: string, opts: { limit: number; cursor?: string; reverse?: boolean }): RecordRow[] {
    if (opts.reverse) return this.stmts.listAsc.all(did, collection, opts.cursor ?? '', opts.limit) as RecordRow[]
    // U+FFFF sorts after every valid rkey character, so it stands for "from the end".
    return this.stmts.listDesc.all(did, collection, opts.cursor ?? '\uffff', opts.limit) as RecordRow[]
  }

  count(did: string): number {
    return this.stmts.count.get(did) as number
  }

  /**
   * The first `limit` records (oldest first) last written by a commit after `rev`. Revs are TIDs, whose string order
   * is time order; `rev` may be any string. Deleted records are gone from the index, so they never show.
   */
  sinceRev(did: string, rev: string, limit: number): TimedRecordRow[] {
    return this.stmts.sinceRev.all(did, rev, limit) as TimedRecordRow[]
  }

  /** Whether any record of the repo was last written at or before `rev`. */
  hasAtOrBeforeRev(did: string, rev: string): boolean {
    return this.stmts.atOrBeforeRev.get(did, rev) !== undefined
  }
}
