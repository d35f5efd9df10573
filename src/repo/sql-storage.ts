// @atproto/repo's storage interface over the repo_block/repo_root tables, for one repo. Reads are used while a
// commit is built; writes happen through `applyCommitSync`, inside the caller's transaction, so that blocks, root,
// record index and event commit together.
import { BlockMap, ReadableBlockstore, type CommitData, type RepoStorage } from '@atproto/repo'
import type { Cid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import type { Db } from '../db/index.ts'

export class RepoBlockStatements {
  readonly getBlock
  readonly hasBlock
  readonly putBlock
  readonly removeBlock
  readonly removeRepoBlocks
  readonly getRoot
  readonly setRoot

  constructor(db: Db) {
    this.getBlock = db.prepare('SELECT content FROM repo_block WHERE did = ? AND cid = ?').pluck()
    this.hasBlock = db.prepare('SELECT 1 FROM repo_block WHERE did = ? AND cid = ?').pluck()
    this.putBlock = db.prepare('INSERT OR IGNORE INTO repo_block (did, cid, rev, content) VALUES (?, ?, ?, ?)')
    this.removeBlock = db.prepare('DELETE FROM repo_block WHERE did = ? AND cid = ?')
    this.removeRepoBlocks = db.prepare('DELETE FROM repo_block WHERE did = ?')
    this.getRoot = db.prepare('SELECT cid, rev FROM repo_root WHERE did = ?')
    this.setRoot = db.prepare(
      `INSERT INTO repo_root (did, cid, rev, indexed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexed_at = excluded.indexed_at`,
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

  /** New blocks in, removed blocks out (unless `keep` says a record still points at one), root moved. */
  applyCommitSync(commit: CommitData, keep: (cid: Cid) => boolean = () => false): void {
    for (const [cid, bytes] of commit.newBlocks) this.putBlockSync(cid, bytes, commit.rev)
    for (const cid of commit.removedCids) {
      if (!commit.newBlocks.has(cid) && !keep(cid)) this.stmts.removeBlock.run(this.did, cid.toString())
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
