// Blob bytes on disk, content-addressed under <data>/blobs/<did>/<cid>. Uploads stream to a temp file while being
// hashed (and their first bytes kept for type sniffing), then move into place; the blob index says whether a record
// uses them yet.
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, type ReadStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import type { Logger } from '../logger.ts'
import { PayloadTooLargeError } from '../errors.ts'
import type { BlobIndex } from './blob-index.ts'
import { blobMimeType, SNIFF_BYTES } from './mime-type.ts'

const SHA256_CODE = 0x12
/** Uploads no record has used after this long are deleted. */
export const TEMP_BLOB_TTL_MS = 60 * 60 * 1000

export type StoredBlob = { cid: string; mimeType: string; size: number }

export class BlobStore {
  private readonly root: string
  private readonly tmp: string
  private readonly index: BlobIndex
  private readonly log: Logger

  constructor(dataDirectory: string, index: BlobIndex, log: Logger) {
    this.root = path.join(dataDirectory, 'blobs')
    this.tmp = path.join(dataDirectory, 'tmp')
    mkdirSync(this.root, { recursive: true })
    mkdirSync(this.tmp, { recursive: true })
    this.index = index
    this.log = log
  }

  private pathOf(did: string, cid: string): string {
    return path.join(this.root, did, cid)
  }

  /**
   * Stream `body` to disk, at most `maxBytes` (else PayloadTooLargeError, 413); returns the raw-codec CIDv1 of exactly
   * those bytes, their size, and the type stored for them: sniffed from the first bytes, else `declaredType` (a
   * concrete type, see mime-type.ts `declaredMimeType`), else application/octet-stream.
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
      await pipeline(body, meter, createWriteStream(tmpFile))
      const cid = CID.createV1(raw.code, createDigest(SHA256_CODE, hash.digest())).toString()
      const mimeType = await blobMimeType(Buffer.concat(head), declaredType)
      const target = this.pathOf(did, cid)
      mkdirSync(path.dirname(target), { recursive: true })
      await rename(tmpFile, target)
      return { cid, mimeType: this.index.upsert(did, cid, mimeType, size), size }
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

  /** Blobs just unlinked from a record: those no record uses any more lose their rows and bytes now. */
  deleteOrphans(did: string, cids: readonly string[]): void {
    for (const cid of cids) {
      if (this.index.isReferenced(did, cid)) continue
      this.index.delete(did, cid)
      rm(this.pathOf(did, cid), { force: true }).catch((err) => this.log.warn({ err, did, cid }, 'blob delete failed'))
    }
  }

  /** Every blob byte of an account (deletion); its rows go with the account row. */
  async deleteAll(did: string): Promise<void> {
    await rm(path.join(this.root, did), { recursive: true, force: true })
  }

  /** Delete uploads that no record used within TEMP_BLOB_TTL_MS. Returns how many went. */
  async deleteStaleUploads(now = Date.now()): Promise<number> {
    const stale = this.index.staleTemporary(new Date(now - TEMP_BLOB_TTL_MS).toISOString(), 1000)
    for (const { did, cid } of stale) {
      this.index.delete(did, cid)
      await rm(this.pathOf(did, cid), { force: true })
    }
    return stale.length
  }
}
