// The repo write path. Per repo: take the lock, check swaps against the current root and record index, build and
// sign the commit (src/repo/commit-builder.ts, on @atproto/repo's MST), then ONE transaction stores blocks, moves the root, updates the record index
// and blob links, and appends the #commit event. A failure anywhere leaves no trace. That transaction is a savepoint
// in a group commit shared with other repos' writes ready at the same moment (Sequencer.groupTransaction).
import { EventEmitter } from 'node:events'
import { Repo, type CommitData } from '@atproto/repo'
import type { Keypair } from '@atproto/crypto'
import type { Cid } from '@atproto/lex-data'
import type { BlobIndex } from '../blob/blob-index.ts'
import { checkBlobRefs } from '../blob/check-blob-refs.ts'
import type { Db } from '../db/index.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import {
  accountEventBody,
  commitEventBody,
  identityEventBody,
  MAX_COMMIT_BLOCKS_BYTES,
  syncEventBody,
} from '../protocol/events.ts'
import { TID } from '@atproto/common-web'
import { decode as cborDecode } from '@ipld/dag-cbor'
import { decodeSignedCommit, isSignedBy } from '../protocol/commit.ts'
import { CID } from 'multiformats/cid'
import { InvalidRequestError } from '../errors.ts'
import { streamRepoCar, type RepoCar } from './car-stream.ts'
import { ImportStaging } from './import-staging.ts'
import { importRepoCar, type ImportedRepo, type RepoImportArgs } from './repo-import.ts'
import { KeyedLock } from '../util/keyed-lock.ts'
import { defaultExportLimits, RepoExports, type RepoExportLimits } from './repo-exports.ts'
import type { PreparedWrite } from './prepare.ts'
import type { RecordIndex } from './record-index.ts'
import { RepoReader, type CommitBlock } from './repo-reader.ts'
import { buildCommit, type TreeChange } from './commit-builder.ts'
import { RepoHeads } from './repo-heads.ts'
import { RepoBlockStatements, SqlRepoStorage } from './sql-storage.ts'
import { WriteBatch, type NetChange } from './write-batch.ts'

export const MAX_WRITES_PER_COMMIT = 200

/**
 * Stored record bytes one listRecords page decodes at most (one record always): decoding them and shaping the JSON
 * answer runs on the event loop, about 0.1 s per MB for records made of many tiny values, and the page is public.
 * Ordinary records are a few hundred bytes, so only pages of unusually large records come out shorter.
 */
export const MAX_LIST_RECORDS_BYTES = 512 * 1024

export type WriteResult =
  | { action: 'create' | 'update'; uri: string; cid: string; validationStatus?: 'valid' | 'unknown' }
  | { action: 'delete'; uri: string }

export type CommitResult = { commit: { cid: string; rev: string } | null; results: WriteResult[] }

export type PreparedInit = { commit: CommitData; commitBody: Record<string, unknown>; syncBody: Record<string, unknown> }

/**
 * Told after each record-write commit (applyWrites and the methods built on it), for the metrics: the count of each
 * action, and the time from the call to the commit (ms; waiting for the repo's lock, building, signing, storing).
 */
export type CommittedWrites = { creates: number; updates: number; deletes: number; durationMs: number }

export class RepoService extends EventEmitter<{ committed: [CommittedWrites] }> {
  private readonly blockStmts: RepoBlockStatements
  private readonly lock = new KeyedLock()
  private readonly sequencer: Sequencer
  private readonly records: RecordIndex
  private readonly blobs: BlobIndex
  private readonly signingKey: (did: string) => Promise<Keypair>
  private readonly onBlobsUnlinked: (did: string, cids: string[]) => Promise<void>
  private readonly importStaging: ImportStaging
  /** Each recently written repo's last commit and tree, in memory, for its next write. */
  private readonly heads = new RepoHeads()
  /** CAR exports in progress: their cap, idle deadline, and the repos whose removed blocks are kept for them. */
  readonly exports: RepoExports

  constructor(deps: {
    db: Db
    sequencer: Sequencer
    records: RecordIndex
    blobs: BlobIndex
    signingKey: (did: string) => Promise<Keypair>
    /**
     * Called synchronously right after the commit with the blobs it unlinked from records (those no record uses any
     * more can go); the write answers once the returned promise settles. Must not reject.
     */
    onBlobsUnlinked: (did: string, cids: string[]) => Promise<void>
    exportLimits?: RepoExportLimits
  }) {
    super()
    this.blockStmts = new RepoBlockStatements(deps.db)
    this.exports = new RepoExports(this.blockStmts, deps.exportLimits ?? defaultExportLimits)
    this.reader = new RepoReader(this.blockStmts)
    this.sequencer = deps.sequencer
    this.records = deps.records
    this.blobs = deps.blobs
    this.signingKey = deps.signingKey
    this.onBlobsUnlinked = deps.onBlobsUnlinked
    this.importStaging = new ImportStaging(deps.db)
    // Built before the server takes requests: what imports staged is left over from a crash.
    this.importStaging.sweep()
  }

  /** Resolves when no repo write is running or waiting (shutdown: before the database closes). */
  idle(): Promise<void> {
    return this.lock.idle()
  }

  /** Synchronous point reads (roots, proofs, blocks) for the sync endpoints, on the same statements. */
  readonly reader: RepoReader

  storage(did: string): SqlRepoStorage {
    return new SqlRepoStorage(this.blockStmts, did)
  }

  /** The first, empty, signed commit of a new account, ready to be stored by `applyInit`. */
  async prepareInit(did: string, keypair: Keypair): Promise<PreparedInit> {
    const commit = await Repo.formatInitCommit(this.storage(did), did, keypair)
    return {
      commit,
      commitBody: commitEventBody(did, commit, [], null),
      syncBody: syncEventBody(did, { cid: commit.cid, rev: commit.rev, bytes: commit.newBlocks.get(commit.cid)! }),
    }
  }

  /**
   * Store the first commit and sequence the account's creation as the reference does: #identity, #account,
   * #commit, #sync. Call inside `sequencer.writeTransaction`, after the account row exists.
   */
  applyInit(did: string, handle: string, init: PreparedInit): void {
    this.storeInit(did, init)
    this.sequencer.append(did, 'identity', identityEventBody(did, handle))
    this.sequencer.append(did, 'account', accountEventBody(did, true))
    this.sequencer.append(did, 'commit', init.commitBody)
    this.sequencer.append(did, 'sync', init.syncBody)
  }

  /**
   * Store the first commit without a word to the firehose: an account migrating here stays unannounced until it is
   * activated (as in the reference). Call inside `sequencer.writeTransaction`, after the account row exists.
   */
  storeInit(did: string, init: PreparedInit): void {
    this.storage(did).applyCommitSync(init.commit)
  }

  /**
   * Delete a repo's blocks, records and blob links under the repo lock (so no write is half-way through it), in one
   * transaction together with `alsoInTransaction` (the account row and its tombstone event).
   */
  async deleteRepo(did: string, alsoInTransaction: () => void): Promise<void> {
    await this.lock.run(did, async () => {
      this.sequencer.writeTransaction(() => {
        this.blobs.unlinkRepo(did)
        this.records.deleteRepo(did)
        this.blockStmts.removeRepoBlocks.run(did)
        this.blockStmts.purgeRetired.run(did)
        alsoInTransaction()
      })
      this.heads.drop(did)
    })
  }

  /**
   * Replace the repo with the one in a CAR (importRepo; src/repo/repo-import.ts says what is verified), under the repo
   * lock from the first byte read to the swap, so no write or other import interleaves. `inTransaction` runs first in
   * the swap's transaction: the caller's last check that the account may still import (it throws to refuse). Nothing
   * is sequenced. Errors: InvalidRequest (400) for a bad CAR, whatever `inTransaction` throws, the source's errors.
   */
  async importRepo(args: RepoImportArgs, inTransaction: () => void): Promise<ImportedRepo> {
    const { did } = args
    return this.lock.run(did, () =>
      importRepoCar(this.importStaging, args, (importId, imported) => {
        this.sequencer.writeTransaction(() => {
          inTransaction()
          // An export of the old repo still streaming keeps reading its blocks from the retired copies.
          if (this.exports.isExporting(did)) this.blockStmts.retireRepoBlocks.run(did)
          this.blobs.unlinkRepo(did)
          this.records.deleteRepo(did)
          this.blockStmts.removeRepoBlocks.run(did)
          this.importStaging.promote(importId, did, imported.rev)
          this.blockStmts.setRoot.run(did, imported.commit.toString(), imported.rev, new Date().toISOString())
        })
        this.heads.drop(did)
      }),
    )
  }

  /**
   * Run `inTransaction` in one write transaction under the repo lock, with the head commit signed by the account's
   * own key: a head another key signed (a repo imported from the account's old PDS) is first re-signed, same tree and
   * a new rev (@atproto/repo formatResignCommit), and stored in that transaction. Activation uses it: relays check
   * the #sync commit's signature against the DID document, which names our key once the account has moved here, and
   * take its rev as newer than anything the old PDS sent. (The reference announces the imported commit as it is.)
   * `inTransaction` gets the head commit block, null without a repo.
   */
  async withOwnSignedHead<T>(did: string, inTransaction: (head: CommitBlock | null) => T): Promise<T> {
    return this.lock.run(did, async () => {
      const storage = this.storage(did)
      const head = this.reader.commitBlock(did)
      let resigned: CommitData | null = null
      if (head) {
        const key = await this.signingKey(did)
        if (!(await isSignedBy(decodeSignedCommit(head.bytes), key.did()))) {
          const repo = await Repo.load(storage, head.cid)
          resigned = await repo.formatResignCommit(TID.nextStr(head.rev), key)
        }
      }
      return this.sequencer.writeTransaction(() => {
        if (resigned) storage.applyCommitSync(resigned, () => false, this.exports.isExporting(did))
        return inTransaction(this.reader.commitBlock(did))
      })
    })
  }

  root(did: string): { cid: Cid; rev: string } | null {
    return this.reader.root(did)
  }

  /** How many blocks the repo stores (checkAccountStatus's repoBlocks). */
  blockCount(did: string): number {
    return this.blockStmts.countBlocks.get(did) as number
  }

  /**
   * The repo as a streamed CAR (getRepo), pinned to the current commit: all of it, or the blocks stored after
   * `since`. Null without a root. Throws NotEnoughResources (503) when the export cap is reached.
   */
  exportCar(did: string, since?: string): RepoCar | null {
    return streamRepoCar(this.blockStmts, this.exports, did, since)
  }

  /** A record's current CID and decoded value, from the record index and the block store. */
  readRecord(did: string, collection: string, rkey: string): { uri: string; cid: string; value: unknown } | null {
    const row = this.records.get(did, collection, rkey)
    return row ? this.readValues(did, [row])[0] : null
  }

  /**
   * Decoded values for index rows (listRecords), in order. Stops before the record that would take the stored bytes
   * read past `maxBytes`, but always returns the first: fewer values than rows means the caller pages on from the
   * last one returned.
   */
  readValues(
    did: string,
    rows: readonly { uri: string; cid: string }[],
    maxBytes = Infinity,
  ): { uri: string; cid: string; value: unknown }[] {
    const out: { uri: string; cid: string; value: unknown }[] = []
    let total = 0
    for (const row of rows) {
      const bytes = this.blockStmts.getBlock.get(did, row.cid) as Uint8Array | undefined
      if (!bytes) throw new Error(`record block ${row.cid} missing from repo ${did}`)
      total += bytes.length
      if (total > maxBytes && out.length > 0) break
      out.push({ uri: row.uri, cid: row.cid, value: cborDecode(bytes) })
    }
    return out
  }

  /**
   * Apply `writes` in order, as ONE commit. Each write is checked against the state the writes before it left: a
   * create needs the record absent, an update (unless `upsert`) and a delete need it present, a swapCid must match
   * the current CID. So create→delete, delete→create, create→update… of one path work, and end as the same writes
   * sent one by one would. Results: one per write, in order. No commit when no write changes anything (an
   * identical put); writes that cancel out still commit (new rev, no ops), as in the reference.
   * Errors (400, nothing written): InvalidRequest, InvalidSwap, BlobNotFound, RepoNotFound.
   */
  async applyWrites(did: string, writes: PreparedWrite[], swapCommit?: Cid): Promise<CommitResult> {
    if (writes.length > MAX_WRITES_PER_COMMIT) {
      throw new InvalidRequestError(`Too many writes: ${writes.length} (at most ${MAX_WRITES_PER_COMMIT})`)
    }

    const started = performance.now()
    let unlinked: Promise<void> | undefined
    const result = await this.lock.run(did, async () => {
      const storage = this.storage(did)
      const root = storage.rootSync()
      if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
      if (swapCommit && !swapCommit.equals(root.cid)) {
        throw new InvalidRequestError(`Commit was at ${root.cid.toString()}`, 'InvalidSwap')
      }

      const batch = new WriteBatch((collection, rkey) => {
        const row = this.records.get(did, collection, rkey)
        return row ? CID.parse(row.cid) : null
      })
      const results: WriteResult[] = []
      for (const w of writes) {
        const currentCid = batch.current(w)
        if (w.action !== 'create' && w.swapCid !== undefined) {
          const matches = w.swapCid === null ? currentCid === null : currentCid?.equals(w.swapCid) === true
          if (!matches) throw new InvalidRequestError(`Record was at ${currentCid?.toString() ?? 'null'}`, 'InvalidSwap')
        }
        if (w.action === 'delete') {
          if (!currentCid) throw new InvalidRequestError(`Could not find record: ${w.uri}`)
          batch.delete(w)
          results.push({ action: 'delete', uri: w.uri })
          continue
        }
        checkBlobRefs(this.blobs, did, w.blobs)
        if (w.action === 'create' && currentCid) {
          throw new InvalidRequestError(`Record already exists: ${w.uri}`)
        }
        if (w.action === 'update' && !currentCid && !w.upsert) {
          throw new InvalidRequestError(`Could not find record: ${w.uri}`)
        }
        results.push({ action: w.action, uri: w.uri, cid: w.cid.toString(), validationStatus: w.validationStatus })
        batch.put(w)
      }
      if (!batch.changed) return { commit: null, results } // e.g. putRecord with identical content

      const changes = batch.net()
      const head = this.heads.get(did, root.cid) ?? (await Repo.load(storage, root.cid))
      const { commit, next } = await buildCommit(head, changes.map(toTreeChange), await this.signingKey(did))
      // A record moved to another key in one commit (same content, same CID) is no new leaf, so the commit (as
      // @atproto/repo's formatCommit) leaves its block out; the event must carry the block of every create/update (@atproto/sync reads it). As the reference.
      const moved = changes.flatMap((c) => (c.write && !commit.relevantBlocks.has(c.write.cid) ? [c.write.cid] : []))
      if (moved.length) commit.relevantBlocks.addMap((await storage.getBlocks(moved)).blocks)
      const body = commitEventBody(did, commit, changes.map((c) => c.op), head.commit.data)
      const carBytes = (body.blocks as Uint8Array).length
      if (carBytes > MAX_COMMIT_BLOCKS_BYTES) {
        throw new InvalidRequestError(`Commit too large: ${carBytes} bytes of blocks (at most ${MAX_COMMIT_BLOCKS_BYTES})`)
      }

      // Blobs this batch's own writes used before a later write replaced or deleted them were never linked.
      const orphaned = [...batch.droppedBlobs]
      // Shared with the commits of other repos ready in this turn of the event loop (one fsync for all of them);
      // answered once durable.
      await this.sequencer.groupTransaction(() => {
        // The lock serialises this process; this guards against anything else that moved the root meanwhile.
        if (!storage.rootSync()?.cid.equals(root.cid)) throw new Error(`repo root of ${did} moved during a write`)
        for (const { uri, collection, rkey, op, write } of changes) {
          if (op.action !== 'create') orphaned.push(...this.blobs.unlinkRecord(did, uri))
          if (write) {
            // Again, now: a blob deleted since the check above (unused and swept, or another record's orphan) fails
            // the write here, rather than leave an acknowledged record pointing at bytes that are gone.
            checkBlobRefs(this.blobs, did, write.blobs)
            this.records.put({ uri, did, collection, rkey, cid: write.cid.toString(), rev: commit.rev })
            this.blobs.link(did, uri, write.blobs.map((b) => b.cid.toString()))
          } else {
            this.records.delete(uri)
          }
        }
        // A removed record block stays if another record in this repo has identical content (same CID).
        storage.applyCommitSync(commit, (cid) => this.records.cidInUse(did, cid.toString()), this.exports.isExporting(did))
        this.sequencer.append(did, 'commit', body)
      })
      this.heads.set(did, next, changes.length)
      if (this.listenerCount('committed') > 0) this.emit('committed', countWrites(changes, performance.now() - started))
      // Blobs this commit unlinked; the blob store keeps any that a record still uses. Started here, right after the
      // commit and before any other write to this repo (its lock is held), so that it sees this repo's blob rows as
      // the commit left them.
      if (orphaned.length) unlinked = this.onBlobsUnlinked(did, [...new Set(orphaned)])
      return { commit: { cid: commit.cid.toString(), rev: commit.rev }, results }
    })
    // Outside the repo lock (the next write need not wait for file deletions); answering after them means a client
    // that deleted a record no longer finds its orphaned blob.
    await unlinked
    return result
  }
}

function countWrites(changes: NetChange[], durationMs: number): CommittedWrites {
  const out = { creates: 0, updates: 0, deletes: 0, durationMs }
  for (const { op } of changes) {
    if (op.action === 'create') out.creates += 1
    else if (op.action === 'update') out.updates += 1
    else out.deletes += 1
  }
  return out
}

/** A net change as the tree change the commit is built from. */
function toTreeChange({ collection, rkey, op, write }: NetChange): TreeChange {
  const key = `${collection}/${rkey}`
  if (!write) return { action: 'delete', key }
  return { action: op.action === 'create' ? 'create' : 'update', key, cid: write.cid, bytes: write.bytes }
}
