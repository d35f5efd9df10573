// The staging tables of repo imports (migrations/009_repo_import.sql): one import's blocks, as the CAR streams in,
// and what the walk of its tree finds, kept in the database rather than in memory so that a repo of any size imports
// in bounded memory. `promote` moves a verified import into the live tables inside the caller's transaction.
import { randomBytes } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import type { Db } from '../db/index.ts'

export class ImportStaging {
  private readonly db: Db
  private readonly stmts

  constructor(db: Db) {
    this.db = db
    this.stmts = {
      putBlock: db.prepare('INSERT OR IGNORE INTO repo_import_block (import_id, cid, content) VALUES (?, ?, ?)'),
      getBlock: db.prepare('SELECT content FROM repo_import_block WHERE import_id = ? AND cid = ?').pluck(),
      markReachable: db.prepare('UPDATE repo_import_block SET reachable = 1 WHERE import_id = ? AND cid = ?'),
      putRecord: db.prepare('INSERT INTO repo_import_record (import_id, collection, rkey, cid) VALUES (?, ?, ?, ?)'),
      putBlob: db.prepare('INSERT OR IGNORE INTO repo_import_blob (import_id, blob_cid, record_uri) VALUES (?, ?, ?)'),
      reachableBlocks: db.prepare('SELECT count(*) FROM repo_import_block WHERE import_id = ? AND reachable = 1').pluck(),
      promoteBlocks: db.prepare(
        `INSERT INTO repo_block (did, cid, rev, content)
         SELECT @did, cid, @rev, content FROM repo_import_block WHERE import_id = @id AND reachable = 1`,
      ),
      promoteRecords: db.prepare(
        `INSERT INTO record (uri, did, collection, rkey, cid, rev, indexed_at)
         SELECT 'at://' || @did || '/' || collection || '/' || rkey, @did, collection, rkey, cid, @rev, @now
         FROM repo_import_record WHERE import_id = @id`,
      ),
      promoteBlobs: db.prepare(
        `INSERT INTO record_blob (did, blob_cid, record_uri)
         SELECT @did, blob_cid, record_uri FROM repo_import_blob WHERE import_id = @id`,
      ),
      discard: ['repo_import_block', 'repo_import_record', 'repo_import_blob'].map((t) =>
        db.prepare(`DELETE FROM ${t} WHERE import_id = ?`),
      ),
      sweep: ['repo_import_block', 'repo_import_record', 'repo_import_blob'].map((t) => db.prepare(`DELETE FROM ${t}`)),
    }
  }

  /** A fresh import id. */
  newImport(): string {
    return randomBytes(12).toString('hex')
  }

  /**
   * Delete what imports a crash or kill left behind. Only at startup, before requests: one process owns the
   * database, so no import can be running then.
   */
  sweep(): void {
    this.db.transaction(() => this.stmts.sweep.forEach((s) => s.run()))()
  }

  /** Run `fn` (a batch of staging writes) in one transaction: one sync to disk per batch, not per row. */
  batch(fn: () => void): void {
    this.db.transaction(fn)()
  }

  putBlock(id: string, cid: CID, bytes: Uint8Array): void {
    this.stmts.putBlock.run(id, cid.toString(), bytes)
  }

  getBlock(id: string, cid: CID): Uint8Array | undefined {
    return this.stmts.getBlock.get(id, cid.toString()) as Uint8Array | undefined
  }

  markReachable(id: string, cid: CID): void {
    this.stmts.markReachable.run(id, cid.toString())
  }

  putRecord(id: string, collection: string, rkey: string, cid: CID): void {
    this.stmts.putRecord.run(id, collection, rkey, cid.toString())
  }

  putBlobRef(id: string, blobCid: string, recordUri: string): void {
    this.stmts.putBlob.run(id, blobCid, recordUri)
  }

  reachableBlocks(id: string): number {
    return this.stmts.reachableBlocks.get(id) as number
  }

  /**
   * Copy the import's reachable blocks (stamped with the commit's `rev`), records and blob links into repo_block,
   * record and record_blob for `did`. Inside the caller's transaction, once the repo's old rows are gone.
   */
  promote(id: string, did: string, rev: string): void {
    const args = { id, did, rev, now: new Date().toISOString() }
    this.stmts.promoteBlocks.run(args)
    this.stmts.promoteRecords.run(args)
    this.stmts.promoteBlobs.run({ id, did })
  }

  /** Forget an import's rows (after it is promoted, or failed). */
  discard(id: string): void {
    this.db.transaction(() => this.stmts.discard.forEach((s) => s.run(id)))()
  }
}
