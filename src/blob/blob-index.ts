// Blob metadata and which records use which blob. A blob no record uses is temporary: it is not listed or served,
// and it is deleted after a grace period (uploads) or at once (blobs whose last record went away).
import type { Db } from '../db/index.ts'

export type BlobRow = { did: string; cid: string; mime_type: string; size: number; created_at: string }
export type ReferencedBlob = { cid: string; recordUri: string; stored: boolean }

export class BlobIndex {
  private readonly stmts

  constructor(db: Db) {
    this.stmts = {
      // Same bytes again: the grace period restarts, and the new type replaces the old one unless a record already
      // uses the blob (its ref carries the stored type, and must keep matching it).
      insert: db.prepare(
        `INSERT INTO blob (did, cid, mime_type, size, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (did, cid) DO UPDATE SET created_at = excluded.created_at,
           mime_type = CASE WHEN EXISTS (SELECT 1 FROM record_blob r WHERE r.did = blob.did AND r.blob_cid = blob.cid)
             THEN blob.mime_type ELSE excluded.mime_type END
         RETURNING mime_type`,
      ).pluck(),
      get: db.prepare('SELECT * FROM blob WHERE did = ? AND cid = ?'),
      count: db.prepare('SELECT count(*) FROM blob WHERE did = ?').pluck(),
      // Kept by triggers (migrations/012_blob_total.sql): summing the table would be a scan.
      totalBytes: db.prepare('SELECT bytes FROM blob_total WHERE id = 1').pluck(),
      countReferenced: db.prepare('SELECT count(DISTINCT blob_cid) FROM record_blob WHERE did = ?').pluck(),
      link: db.prepare('INSERT OR IGNORE INTO record_blob (did, blob_cid, record_uri) VALUES (?, ?, ?)'),
      unlinkRecord: db.prepare('DELETE FROM record_blob WHERE did = ? AND record_uri = ? RETURNING blob_cid').pluck(),
      unlinkRepo: db.prepare('DELETE FROM record_blob WHERE did = ?'),
      referenced: db.prepare('SELECT 1 FROM record_blob WHERE did = ? AND blob_cid = ? LIMIT 1').pluck(),
      // The deletion's re-check and the deletion in one statement: no commit can link the blob in between.
      deleteIfUnused: db.prepare(
        `DELETE FROM blob WHERE did = ? AND cid = ? AND created_at <= ?
         AND NOT EXISTS (SELECT 1 FROM record_blob r WHERE r.did = blob.did AND r.blob_cid = blob.cid)`,
      ),
      staleTemp: db.prepare(
        `SELECT did, cid, created_at FROM blob b WHERE created_at < ?
         AND NOT EXISTS (SELECT 1 FROM record_blob r WHERE r.did = b.did AND r.blob_cid = b.cid) LIMIT ?`,
      ),
      listReferenced: db.prepare(
        `SELECT DISTINCT rb.blob_cid FROM record_blob rb JOIN record r ON r.uri = rb.record_uri
         WHERE rb.did = ? AND rb.blob_cid > ? AND (? IS NULL OR r.rev > ?) ORDER BY rb.blob_cid LIMIT ?`,
      ).pluck(),
      // Keyset order over the primary key: every blob of every account, a page at a time (the move to S3).
      page: db.prepare('SELECT did, cid, size FROM blob WHERE (did, cid) > (?, ?) ORDER BY did, cid LIMIT ?'),
      total: db.prepare('SELECT count(*) FROM blob').pluck(),
      listReferencedWithRecord: db.prepare(
        `SELECT rb.blob_cid AS cid, min(rb.record_uri) AS recordUri, b.cid IS NOT NULL AS stored
         FROM record_blob rb LEFT JOIN blob b ON b.did = rb.did AND b.cid = rb.blob_cid
         WHERE rb.did = ? AND rb.blob_cid > ? GROUP BY rb.blob_cid ORDER BY rb.blob_cid LIMIT ?`,
      ),
    }
  }

  /**
   * Record an upload (new, or the same bytes again: the grace period restarts). Returns the type now stored: `mimeType`,
   * or the earlier one when a record already uses these bytes.
   */
  upsert(did: string, cid: string, mimeType: string, size: number): string {
    return this.stmts.insert.get(did, cid, mimeType, size, new Date().toISOString()) as string
  }

  /** Every stored blob after (did, cid) in key order, at most `limit` (start with empty strings). */
  page(after: { did: string; cid: string }, limit: number): { did: string; cid: string; size: number }[] {
    return this.stmts.page.all(after.did, after.cid, limit) as { did: string; cid: string; size: number }[]
  }

  /** How many blobs are stored, all accounts. */
  total(): number {
    return this.stmts.total.get() as number
  }

  /** Blobs stored for the account, temporary uploads included (checkAccountStatus's importedBlobs). */
  count(did: string): number {
    return this.stmts.count.get(did) as number
  }

  /** Bytes of every blob stored, all accounts, temporary uploads included (the metrics). */
  totalBytes(): number {
    return (this.stmts.totalBytes.get() as number | undefined) ?? 0
  }

  /** Distinct blobs the account's records use, stored or not (checkAccountStatus's expectedBlobs). */
  countReferenced(did: string): number {
    return this.stmts.countReferenced.get(did) as number
  }

  get(did: string, cid: string): BlobRow | undefined {
    return this.stmts.get.get(did, cid) as BlobRow | undefined
  }

  isReferenced(did: string, cid: string): boolean {
    return this.stmts.referenced.get(did, cid) !== undefined
  }

  /** Point a record at its blobs (inside the write transaction). */
  link(did: string, recordUri: string, blobCids: readonly string[]): void {
    for (const cid of blobCids) this.stmts.link.run(did, cid, recordUri)
  }

  /** Forget a record's blobs; returns their CIDs (other records may still use some of them). */
  unlinkRecord(did: string, recordUri: string): string[] {
    return this.stmts.unlinkRecord.all(did, recordUri) as string[]
  }

  /** Forget every blob link of a repo (its deletion). */
  unlinkRepo(did: string): void {
    this.stmts.unlinkRepo.run(did)
  }

  /**
   * Delete the row if no record uses the blob and it was last uploaded at or before `uploadedAt` (ISO time: an
   * upload of the same bytes after that restarts its life). True when it went.
   */
  deleteIfUnused(did: string, cid: string, uploadedAt: string): boolean {
    return this.stmts.deleteIfUnused.run(did, cid, uploadedAt).changes > 0
  }

  /** Unreferenced blobs uploaded before `before` (ISO time), with their upload time. */
  staleTemporary(before: string, limit: number): { did: string; cid: string; created_at: string }[] {
    return this.stmts.staleTemp.all(before, limit) as { did: string; cid: string; created_at: string }[]
  }

  /** Referenced blob CIDs, in CID order after `cursor`, optionally only from records written after rev `since`. */
  listReferenced(did: string, opts: { since?: string; cursor?: string; limit: number }): string[] {
    const since = opts.since ?? null
    return this.stmts.listReferenced.all(did, opts.cursor ?? '', since, since, opts.limit) as string[]
  }

  /**
   * Referenced blob CIDs in CID order after `after`, each with one record that uses it and whether a blob row exists
   * (listMissingBlobs).
   */
  listReferencedWithRecord(did: string, after: string, limit: number): ReferencedBlob[] {
    const rows = this.stmts.listReferencedWithRecord.all(did, after, limit) as { cid: string; recordUri: string; stored: number }[]
    return rows.map((row) => ({ ...row, stored: row.stored === 1 }))
  }
}
