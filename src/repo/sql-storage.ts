// @atproto/repo's storage interface over the repo_block/repo_root tables, for one repo. Reads are used while a
// commit is built; writes happen through `applyCommitSync`, inside the caller's transaction, so that blocks, root,
// record index and event commit together.
//
// Retired blocks: while a CAR export of a repo is running (src/repo/repo-exports.ts), the blocks a commit removes
// are copied to `temp.repo_block_retired` before they are deleted, so the export can still read every block of the
// commit it started from without holding a read transaction open. A TEMP table lives with this connection only: it
// never reaches the WAL, and it is empty again after a restart, when no export is running.
import { BlockMap, ReadableBlockstore, type CommitData, type RepoStorage } from '@atproto/repo'
import type { Cid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import type { Db } from '../db/index.ts'

/** Sorts after every CID string (they are ASCII), so (rev, AFTER_EVERY_CID) is "after every block of rev". */
export const AFTER_EVERY_CID = '\uffff'

export class RepoBlockStatements {
  readonly getBlock
  readonly hasBlock
  readonly putBlock
  readonly removeBlock
  readonly removeRepoBlocks
  readonly countBlocks
  readonly getRoot
  readonly setRoot
  readonly retireBlock
  readonly retireRepoBlocks
  readonly getRetiredBlock
  readonly purgeRetired
  /**
   * Blocks stored by commits with rev <= until, live or retired, in (rev, cid) order after (afterRev, afterCid), at
   * most `limit`. Start after (since, AFTER_EVERY_CID) for the blocks of the commits after `since`.
   */
  readonly blocksInRevRange
  /** Run `read` in one (deferred, so read-only) transaction: one WAL read lock for many point reads. */
  readonly readTransaction: (read: () => void) => void

  constructor(db: Db) {
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS repo_block_retired (
      did TEXT NOT NULL,
      cid TEXT NOT NULL,
      rev TEXT NOT NULL,
      content BLOB NOT NULL,
      PRIMARY KEY (did, cid)
    ) WITHOUT ROWID`)
    db.exec('CREATE INDEX IF NOT EXISTS temp.repo_block_retired_rev_idx ON repo_block_retired (did, rev)')
    this.getBlock = db.prepare('SELECT content FROM repo_block WHERE did = ? AND cid = ?').pluck()
    this.hasBlock = db.prepare('SELECT 1 FROM repo_block WHERE did = ? AND cid = ?').pluck()
    this.putBlock = db.prepare('INSERT OR IGNORE INTO repo_block (did, cid, rev, content) VALUES (?, ?, ?, ?)')
    this.removeBlock = db.prepare('DELETE FROM repo_block WHERE did = ? AND cid = ?')
    this.removeRepoBlocks = db.prepare('DELETE FROM repo_block WHERE did = ?')
    this.countBlocks = db.prepare('SELECT count(*) FROM repo_block WHERE did = ?').pluck()
    this.getRoot = db.prepare('SELECT cid, rev FROM repo_root WHERE did = ?')
    this.setRoot = db.prepare(
      `INSERT INTO repo_root (did, cid, rev, indexed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexed_at = excluded.indexed_at`,
    )
    this.retireBlock = db.prepare(
      `INSERT OR IGNORE INTO temp.repo_block_retired (did, cid, rev, content)
       SELECT did, cid, rev, content FROM repo_block WHERE did = ? AND cid = ?`,
    )
    this.retireRepoBlocks = db.prepare(
      `INSERT OR IGNORE INTO temp.repo_block_retired (did, cid, rev, content)
       SELECT did, cid, rev, content FROM repo_block WHERE did = ?`,
    )
    this.getRetiredBlock = db.prepare('SELECT content FROM temp.repo_block_retired WHERE did = ? AND cid = ?').pluck()
    this.purgeRetired = db.prepare('DELETE FROM temp.repo_block_retired WHERE did = ?')
    // Keyset pages: each arm walks its (did, rev) index (whose rows end with the key's cid) from the last row sent,
    // and the merge stops at the limit, so every page costs the same however deep into the diff it is.
    const arm = (table: string) =>
      `SELECT cid, rev, content FROM ${table}
       WHERE did = @did AND rev >= @afterRev AND rev <= @until AND (rev, cid) > (@afterRev, @afterCid)`
    this.readTransaction = db.transaction((read: () => void) => read())
    this.blocksInRevRange = db.prepare(
      `${arm('repo_block')} UNION ALL ${arm('temp.repo_block_retired')} ORDER BY rev, cid LIMIT @limit`,
    )
  }
}

export class SqlRepoStorage extends ReadableBlockstore implements RepoStorage {
  readonly did: string
  private readonly stmts: RepoBlockStatements

  constructor(stmts: RepoBlockStatements, did: string) {
    super()
    this.stmts = stmts
    this.did = did
  }

  rootSync(): { cid: Cid; rev: string } | null {
    const row = this.stmts.getRoot.get(this.did) as { cid: string; rev: string } | undefined
    return row ? { cid: CID.parse(row.cid), rev: row.rev } : null
  }

  async getRoot(): Promise<Cid | null> {
    return this.rootSync()?.cid ?? null
  }

  async getBytes(cid: Cid): Promise<Uint8Array | null> {
    return (this.stmts.getBlock.get(this.did, cid.toString()) as Uint8Array | undefined) ?? null
  }

  async has(cid: Cid): Promise<boolean> {
    return this.stmts.hasBlock.get(this.did, cid.toString()) !== undefined
  }

  async getBlocks(cids: Cid[]): Promise<{ blocks: BlockMap; missing: Cid[] }> {
    const blocks = new BlockMap()
    const missing: Cid[] = []
    for (const cid of cids) {
      const bytes = this.stmts.getBlock.get(this.did, cid.toString()) as Uint8Array | undefined
      if (bytes) blocks.set(cid, bytes)
      else missing.push(cid)
    }
    return { blocks, missing }
  }

  putBlockSync(cid: Cid, bytes: Uint8Array, rev: string): void {
    this.stmts.putBlock.run(this.did, cid.toString(), rev, bytes)
  }

  /**
   * New blocks in, removed blocks out (unless `keep` says a record still points at one), root moved. `retire`: an
   * export of this repo is running, so removed blocks are kept aside for it first (see above).
   */
  applyCommitSync(commit: CommitData, keep: (cid: Cid) => boolean = () => false, retire = false): void {
    for (const [cid, bytes] of commit.newBlocks) this.putBlockSync(cid, bytes, commit.rev)
    for (const cid of commit.removedCids) {
      if (commit.newBlocks.has(cid) || keep(cid)) continue
      if (retire) this.stmts.retireBlock.run(this.did, cid.toString())
      this.stmts.removeBlock.run(this.did, cid.toString())
    }
    this.stmts.setRoot.run(this.did, commit.cid.toString(), commit.rev, new Date().toISOString())
  }

  // The async write half of RepoStorage, for @atproto/repo helpers that want it. Our writer uses applyCommitSync.
  async putBlock(cid: Cid, bytes: Uint8Array, rev: string): Promise<void> {
    this.putBlockSync(cid, bytes, rev)
  }

  async putMany(blocks: BlockMap, rev: string): Promise<void> {
    for (const [cid, bytes] of blocks) this.putBlockSync(cid, bytes, rev)
  }

  async updateRoot(cid: Cid, rev: string): Promise<void> {
    this.stmts.setRoot.run(this.did, cid.toString(), rev, new Date().toISOString())
  }

  async applyCommit(commit: CommitData): Promise<void> {
    this.applyCommitSync(commit)
  }
}
