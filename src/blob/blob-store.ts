// Blobs: bytes content-addressed by account and CID in a backend (the data directory's disk, or an S3-compatible
// store: blob-backend.ts), rows in the blob index. Uploads stream into a temporary object while being hashed (and their
// first bytes kept for type sniffing), then move into place; the blob index says whether a record uses them yet.
//
// Bytes must never go while a record can use them. Per account, one lock orders every step that adds or removes a
// blob's bytes and row: an upload's move into place and its row, each deletion (re-checking, in one SQL statement,
// that no record uses the blob and nobody uploaded it again since it was chosen), and the account's deletion. A row
// goes before its file and appears after it, and the write path re-checks rows inside its commit transaction, so a
// blob row that exists when a record commits means the file exists afterwards.
import { createHash } from 'node:crypto'
import { pipeline, Transform, type Readable } from 'node:stream'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import type { Logger } from '../logger.ts'
import { ForbiddenError, PayloadTooLargeError, UpstreamFailureError } from '../errors.ts'
import { KeyedLock } from '../util/keyed-lock.ts'
import { BlobBackendError, type BlobBackend } from './blob-backend.ts'
import type { BlobIndex } from './blob-index.ts'
import { blobMimeType, SNIFF_BYTES } from './mime-type.ts'

const SHA256_CODE = 0x12
/** How long the start waits for the store to list and delete unfinished uploads. */
const STARTUP_SWEEP_MS = 5000
/** Uploads no record has used after this long are deleted. */
export const TEMP_BLOB_TTL_MS = 60 * 60 * 1000

export type StoredBlob = { cid: string; mimeType: string; size: number }

/** An upload that finished after its account was deleted (the reference's answer for a vanished account, 403). */
const accountGone = () => new ForbiddenError('Account not found', 'AccountNotFound')

export class BlobStore {
  private readonly backend: BlobBackend
  private readonly index: BlobIndex
  private readonly accountExists: (did: string) => boolean
  private readonly log: Logger
  /**
   * Per DID rather than per (did, cid): an account's deletion must wait for every upload of that account, and what
   * runs under it is short (a move into place and a row; a deletion's unlink).
   */
  private readonly lock = new KeyedLock()

  constructor(backend: BlobBackend, index: BlobIndex, accountExists: (did: string) => boolean, log: Logger) {
    this.backend = backend
    this.index = index
    this.accountExists = accountExists
    this.log = log
  }

  /** 'disk' or 's3'. */
  get kind(): string {
    return this.backend.kind
  }

  /** Release the backend's sockets (shutdown). */
  close(): void {
    this.backend.close()
  }

  /**
   * Removes uploads a crash or kill left half-written. Call once at start, before the server takes requests: one
   * process owns the store, so no temporary object can still be in use then.
   */
  async sweepTemp(): Promise<void> {
    // A store that is down or slow now only delays this to the next start (at most 5 s of it): the server starts and
    // serves what it can.
    const swept = await this.backend.sweepTemp(AbortSignal.timeout(STARTUP_SWEEP_MS)).catch((err) => {
      this.log.error({ err, store: this.backend.kind }, 'blob store unreachable at start: blob uploads and reads fail until it answers')
      return 0
    })
    if (swept) this.log.info({ swept, store: this.backend.kind }, 'removed unfinished blob uploads')
  }

  /**
   * Stream `body` into the store, at most `maxBytes` (else PayloadTooLargeError, 413); returns the raw-codec CIDv1 of
   * exactly those bytes, their size, and the type stored for them: sniffed from the first bytes, else `declaredType`
   * (a concrete type, see mime-type.ts `declaredMimeType`), else application/octet-stream. An account deleted
   * meanwhile gets ForbiddenError AccountNotFound (403); a store that fails gets UpstreamFailureError (502). Either
   * way nothing of the upload stays.
   */
  async upload(did: string, body: Readable, declaredType: string | undefined, maxBytes: number): Promise<StoredBlob> {
    const hash = createHash('sha256')
    const head: Buffer[] = []
    let size = 0
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        // Keep the first SNIFF_BYTES as they go by, so the type comes without reading the bytes back.
        if (size < SNIFF_BYTES) head.push(chunk.subarray(0, SNIFF_BYTES - size))
        size += chunk.length
        if (size > maxBytes) return done(new PayloadTooLargeError(`Blob is larger than ${maxBytes} bytes`))
        hash.update(chunk)
        done(null, chunk)
      },
    })
    // An error on either side destroys both, so the backend's write sees the size limit or the client's departure.
    const metered = pipeline(body, meter, () => {})
    const tempKey = await this.backend.writeTemp(metered).catch((err) => this.unavailable(err))
    let placed = false
    try {
      const cid = CID.createV1(raw.code, createDigest(SHA256_CODE, hash.digest())).toString()
      const mimeType = await blobMimeType(Buffer.concat(head), declaredType)
      return await this.lock.run(did, async () => {
        // Checked before anything lands under the account: its deletion may already have removed it.
        if (!this.accountExists(did)) throw accountGone()
        // The bytes first, then the row: a row always has its bytes. (Same bytes again: an atomic replace.)
        await this.backend.makePermanent(tempKey, did, cid).catch((err) => this.unavailable(err))
        placed = true
        let storedType: string
        try {
          storedType = this.index.upsert(did, cid, mimeType, size)
        } catch (err) {
          // The account went during the move (its rows cascade, so the insert breaks the foreign key). Its
          // deletion waits for this lock to remove its blobs; these bytes are ours to take back.
          if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_FOREIGNKEY') throw err
          await this.backend.delete(did, cid).catch((e) => this.log.warn({ err: e, did, cid }, 'blob delete failed'))
          throw accountGone()
        }
        return { cid, mimeType: storedType, size }
      })
    } finally {
      if (!placed) await this.backend.deleteTemp(tempKey).catch((err) => this.log.warn({ err }, 'temp blob delete failed'))
    }
  }

  async exists(did: string, cid: string): Promise<boolean> {
    return this.backend.exists(did, cid).catch((err) => this.unavailable(err))
  }

  /** The blob's bytes, already flowing; null when the store has none for it. */
  async open(did: string, cid: string): Promise<Readable | null> {
    return this.backend.open(did, cid).catch((err) => this.unavailable(err))
  }

  /**
   * Blobs a commit just unlinked from records: those no record uses any more lose their rows and bytes. Call it right
   * after that commit, synchronously: it notes each row's upload time now, and a blob uploaded again after that is
   * kept (whoever uploaded it is about to use it; the sweep takes it if not). Resolves when done; never rejects
   * (failures are logged: the commit stands either way, and the sweep retries unused rows).
   */
  deleteOrphans(did: string, cids: readonly string[]): Promise<void> {
    const seen: { cid: string; uploadedAt: string }[] = []
    for (const cid of cids) {
      const row = this.index.get(did, cid)
      if (row) seen.push({ cid, uploadedAt: row.created_at })
    }
    if (!seen.length) return Promise.resolve()
    return this.lock
      .run(did, async () => {
        for (const { cid, uploadedAt } of seen) await this.deleteIfUnused(did, cid, uploadedAt)
      })
      .catch((err) => this.log.warn({ err, did }, 'blob delete failed'))
  }

  /** Every blob byte of an account (deletion), after the uploads in flight; its rows went with the account row. */
  async deleteAll(did: string): Promise<void> {
    await this.lock.run(did, () => this.backend.deleteAll(did))
  }

  /** Delete uploads that no record used within TEMP_BLOB_TTL_MS of `now` (epoch ms). Returns how many went. */
  async deleteStaleUploads(now = Date.now()): Promise<number> {
    const stale = this.index.staleTemporary(new Date(now - TEMP_BLOB_TTL_MS).toISOString(), 1000)
    let deleted = 0
    for (const { did, cid, created_at } of stale) {
      // Chosen a moment ago; a record may have taken it, or its uploader sent it again, since.
      if (await this.lock.run(did, () => this.deleteIfUnused(did, cid, created_at))) deleted++
    }
    return deleted
  }

  /**
   * Under the lock: drop the row if no record uses the blob and it was not uploaded again after `uploadedAt` (one
   * statement, so no commit slips in between), then the bytes. False when the blob stays.
   */
  private async deleteIfUnused(did: string, cid: string, uploadedAt: string): Promise<boolean> {
    if (!this.index.deleteIfUnused(did, cid, uploadedAt)) return false
    await this.backend.delete(did, cid)
    return true
  }

  /** A store failure, logged with what the store said and answered to the client without it. */
  private unavailable(err: unknown): never {
    if (!(err instanceof BlobBackendError)) throw err
    this.log.warn({ err, store: this.backend.kind }, 'blob store failed')
    throw new UpstreamFailureError('Blob storage is unavailable; try again later')
  }
}
