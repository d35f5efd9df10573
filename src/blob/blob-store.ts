// Blob bytes on disk, content-addressed under <data>/blobs/<did>/<cid>. Uploads stream to a temp file while being
// hashed (and their first bytes kept for type sniffing), then move into place; the blob index says whether a record
// uses them yet.
//
// Bytes must never go while a record can use them. Per account, one lock orders every step that adds or removes a
// blob's bytes and row: an upload's move into place and its row, each deletion (re-checking, in one SQL statement,
// that no record uses the blob and nobody uploaded it again since it was chosen), and the account's deletion. A row
// goes before its file and appears after it, and the write path re-checks rows inside its commit transaction, so a
// blob row that exists when a record commits means the file exists afterwards.
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, readdirSync, rmSync, type ReadStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import type { Logger } from '../logger.ts'
import { ForbiddenError, PayloadTooLargeError } from '../errors.ts'
import { KeyedLock } from '../util/keyed-lock.ts'
import { mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../util/private-fs.ts'
import type { BlobIndex } from './blob-index.ts'
import { blobMimeType, SNIFF_BYTES } from './mime-type.ts'

const SHA256_CODE = 0x12
/** Uploads no record has used after this long are deleted. */
export const TEMP_BLOB_TTL_MS = 60 * 60 * 1000

export type StoredBlob = { cid: string; mimeType: string; size: number }

/** An upload that finished after its account was deleted (the reference's answer for a vanished account, 403). */
const accountGone = () => new ForbiddenError('Account not found', 'AccountNotFound')

export class BlobStore {
  private readonly root: string
  private readonly tmp: string
  private readonly index: BlobIndex
  private readonly accountExists: (did: string) => boolean
  private readonly log: Logger
  /**
   * Per DID rather than per (did, cid): an account's deletion must wait for every upload of that account, and what
   * runs under it is short (a rename and a row; a deletion's unlink).
   */
  private readonly lock = new KeyedLock()

  constructor(dataDirectory: string, index: BlobIndex, accountExists: (did: string) => boolean, log: Logger) {
    this.root = path.join(dataDirectory, 'blobs')
    this.tmp = path.join(dataDirectory, 'tmp')
    mkdirPrivate(this.root)
    mkdirPrivate(this.tmp)
    this.sweepTemp()
    this.index = index
    this.accountExists = accountExists
    this.log = log
  }

  /**
   * Removes uploads a crash or kill left half-written in <data>/tmp. Safe only here, before the server takes
   * requests: one process owns the data directory, so nothing in tmp can still be in use.
   */
  private sweepTemp(): void {
    for (const name of readdirSync(this.tmp)) rmSync(path.join(this.tmp, name), { recursive: true, force: true })
  }

  private pathOf(did: string, cid: string): string {
    return path.join(this.root, did, cid)
  }

  /**
   * Stream `body` to disk, at most `maxBytes` (else PayloadTooLargeError, 413); returns the raw-codec CIDv1 of exactly
   * those bytes, their size, and the type stored for them: sniffed from the first bytes, else `declaredType` (a
   * concrete type, see mime-type.ts `declaredMimeType`), else application/octet-stream. An account deleted meanwhile
   * gets ForbiddenError AccountNotFound (403), and nothing of the upload stays on disk.
   */
  async upload(did: string, body: Readable, declaredType: string | undefined, maxBytes: number): Promise<StoredBlob> {
    const tmpFile = path.join(this.tmp, randomBytes(16).toString('hex'))
    const hash = createHash('sha256')
    const head: Buffer[] = []
    let size = 0
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        // Keep the first SNIFF_BYTES as they go by, so the type comes without reading the file back.
        if (size < SNIFF_BYTES) head.push(chunk.subarray(0, SNIFF_BYTES - size))
        size += chunk.length
        if (size > maxBytes) return done(new PayloadTooLargeError(`Blob is larger than ${maxBytes} bytes`))
        hash.update(chunk)
        done(null, chunk)
      },
    })
    try {
      await pipeline(body, meter, createWriteStream(tmpFile, { mode: PRIVATE_FILE_MODE }))
      const cid = CID.createV1(raw.code, createDigest(SHA256_CODE, hash.digest())).toString()
      const mimeType = await blobMimeType(Buffer.concat(head), declaredType)
      return await this.lock.run(did, async () => {
        // Checked before anything lands in the account's folder: its deletion may already have removed it.
        if (!this.accountExists(did)) throw accountGone()
        const target = this.pathOf(did, cid)
        mkdirSync(path.dirname(target), { recursive: true, mode: PRIVATE_DIR_MODE })
        // The file first, then the row: a row always has its bytes. (Same bytes again: an atomic replace.)
        await rename(tmpFile, target)
        let storedType: string
        try {
          storedType = this.index.upsert(did, cid, mimeType, size)
        } catch (err) {
          // The account went during the rename (its rows cascade, so the insert breaks the foreign key). Its
          // deletion waits for this lock to remove the folder; the file is ours to take back.
          if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_FOREIGNKEY') throw err
          await rm(target, { force: true })
          throw accountGone()
        }
        return { cid, mimeType: storedType, size }
      })
    } finally {
      await rm(tmpFile, { force: true })
    }
  }

  async exists(did: string, cid: string): Promise<boolean> {
    return stat(this.pathOf(did, cid)).then(
      () => true,
      () => false,
    )
  }

  stream(did: string, cid: string): ReadStream {
    return createReadStream(this.pathOf(did, cid))
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
    await this.lock.run(did, () => rm(path.join(this.root, did), { recursive: true, force: true }))
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
    await rm(this.pathOf(did, cid), { force: true })
    return true
  }
}
