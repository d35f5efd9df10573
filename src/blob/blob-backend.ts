// Where blob bytes live: the data directory's disk (DiskBlobBackend) or an S3-compatible store (S3BlobBackend). The
// BlobStore above them owns hashing, size limits, types, the index rows and the per-account lock; a backend only
// moves bytes. Keys are content addresses (an account's DID and a blob's CID), so writing the same bytes twice is an
// idempotent replace.
import type { Readable } from 'node:stream'

export interface BlobBackend {
  /** 'disk' or 's3', for logs and the status page. */
  readonly kind: string
  /**
   * Stream `body` into a new temporary object; resolves with its key once every byte is stored. Rejects with the
   * stream's own error (a size limit, a client gone) or the store's; nothing of a failed write stays behind.
   */
  writeTemp(body: Readable): Promise<string>
  /** Make temporary object `tempKey` the bytes of `did`'s blob `cid` (replacing any), and drop the temporary one. */
  makePermanent(tempKey: string, did: string, cid: string): Promise<void>
  /** Drop a temporary object (no error when it is gone already). */
  deleteTemp(tempKey: string): Promise<void>
  exists(did: string, cid: string): Promise<boolean>
  /** The blob's bytes as a stream that has already started (a missing blob resolves null, not a broken stream). */
  open(did: string, cid: string): Promise<Readable | null>
  delete(did: string, cid: string): Promise<void>
  /** Every blob of an account (its deletion). */
  deleteAll(did: string): Promise<void>
  /**
   * At start, before requests: drop temporary objects a crash or kill left behind. Only safe then, because one
   * server process owns the store. Returns how many went. `signal`: give up (reject) when it aborts.
   */
  sweepTemp(signal?: AbortSignal): Promise<number>
  /** Release sockets (shutdown). */
  close(): void
}

/** The store could not be reached or refused us (down, 5xx, timeout, wrong credentials): the request fails, nothing changes. */
export class BlobBackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BlobBackendError'
  }
}
