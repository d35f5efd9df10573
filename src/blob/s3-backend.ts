// Blob bytes in an S3-compatible store (AWS S3, MinIO, …): blocks/<did>/<cid>, uploads first written to tmp/<random>
// and copied into place server-side. The same layout as the reference PDS's S3 blob store, so a bucket can be read by
// either. The SDK is loaded only when a bucket is configured (it costs startup time and memory).
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { BlobBackendError, type BlobBackend } from './blob-backend.ts'

export type S3Settings = Readonly<{
  bucket: string
  /** e.g. http://127.0.0.1:9000 for MinIO; undefined: AWS's endpoint for the region. */
  endpoint?: string
  region: string
  /** Undefined: the SDK's default credential chain (instance role, ~/.aws). */
  credentials?: Readonly<{ accessKeyId: string; secretAccessKey: string }>
  /** bucket in the path (MinIO and most self-hosted stores) rather than in the hostname. */
  forcePathStyle: boolean
  /** A request (or an upload part) idle this long fails, in ms. */
  requestTimeoutMs: number
}>

type Sdk = typeof import('@aws-sdk/client-s3')

const tempKeyOf = (key: string) => `tmp/${key}`
const blobKeyOf = (did: string, cid: string) => `blocks/${did}/${cid}`

export class S3BlobBackend implements BlobBackend {
  readonly kind = 's3'
  private readonly sdk: Sdk
  private readonly client: S3Client
  private readonly bucket: string
  private readonly upload: typeof import('@aws-sdk/lib-storage').Upload

  private constructor(sdk: Sdk, upload: typeof import('@aws-sdk/lib-storage').Upload, settings: S3Settings) {
    this.sdk = sdk
    this.upload = upload
    this.bucket = settings.bucket
    this.client = new sdk.S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      // A copy: the SDK writes bookkeeping into the credentials object, and the config's is frozen.
      credentials: settings.credentials && { ...settings.credentials },
      // throwOnRequestTimeout: without it this SDK only warns when a store stops answering, and the request hangs.
      requestHandler: { connectionTimeout: 5000, requestTimeout: settings.requestTimeoutMs, throwOnRequestTimeout: true },
    })
  }

  static async create(settings: S3Settings): Promise<S3BlobBackend> {
    const [sdk, storage] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')])
    return new S3BlobBackend(sdk, storage.Upload, settings)
  }

  /** Whether the bucket answers with these credentials (startup and the doctor); throws BlobBackendError if not. */
  async check(): Promise<void> {
    await this.call('reach the bucket', () => this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket })))
  }

  async writeTemp(body: Readable): Promise<string> {
    const key = randomBytes(16).toString('hex')
    // Multipart for large bodies, one PUT for small ones; on failure the SDK aborts the multipart upload.
    const upload = new this.upload({ client: this.client, params: { Bucket: this.bucket, Key: tempKeyOf(key), Body: body } })
    try {
      await upload.done()
    } catch (err) {
      // The body's own error (size limit, client gone) is the answer; anything else is the store's.
      if (body.errored) throw body.errored
      throw new BlobBackendError(`S3 upload failed: ${describe(err)}`, { cause: err })
    }
    return key
  }

  async makePermanent(tempKey: string, did: string, cid: string): Promise<void> {
    await this.call('store the blob', () =>
      this.client.send(
        new this.sdk.CopyObjectCommand({
          Bucket: this.bucket,
          // Temporary keys are hex: nothing to encode (and some stores, s3rver among them, do not decode it).
          CopySource: `${this.bucket}/${tempKeyOf(tempKey)}`,
          Key: blobKeyOf(did, cid),
        }),
      ),
    )
    await this.deleteTemp(tempKey)
  }

  async deleteTemp(tempKey: string): Promise<void> {
    await this.call('delete a temporary upload', () =>
      this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: tempKeyOf(tempKey) })),
    )
  }

  async exists(did: string, cid: string): Promise<boolean> {
    return (await this.sizeOf(did, cid)) !== null
  }

  /** The object's size in bytes, or null when it is missing (the disk-to-S3 migration's resume check). */
  async sizeOf(did: string, cid: string): Promise<number | null> {
    try {
      const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: blobKeyOf(did, cid) }))
      // An object that exists has a size; a store that leaves it out gets 0 (the migration then copies it again).
      return head.ContentLength ?? 0
    } catch (err) {
      if (isNotFound(err)) return null
      throw new BlobBackendError(`S3 could not check a blob: ${describe(err)}`, { cause: err })
    }
  }

  /** Upload bytes straight to a blob's key (the disk-to-S3 migration: the CID is known). */
  async put(did: string, cid: string, body: Readable): Promise<void> {
    const upload = new this.upload({ client: this.client, params: { Bucket: this.bucket, Key: blobKeyOf(did, cid), Body: body } })
    await this.call('upload a blob', () => upload.done())
  }

  async open(did: string, cid: string): Promise<Readable | null> {
    try {
      const res = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: blobKeyOf(did, cid) }))
      return res.Body as Readable
    } catch (err) {
      if (isNotFound(err)) return null
      throw new BlobBackendError(`S3 could not read a blob: ${describe(err)}`, { cause: err })
    }
  }

  async delete(did: string, cid: string): Promise<void> {
    await this.call('delete a blob', () =>
      this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: blobKeyOf(did, cid) })),
    )
  }

  async deleteAll(did: string): Promise<void> {
    await this.deletePrefix(`blocks/${did}/`)
  }

  async sweepTemp(signal?: AbortSignal): Promise<number> {
    return this.deletePrefix('tmp/', signal)
  }

  /** Every object under `prefix`, a listing page (≤ 1000, the DeleteObjects limit) at a time. Returns how many. */
  private async deletePrefix(prefix: string, abortSignal?: AbortSignal): Promise<number> {
    let deleted = 0
    let token: string | undefined
    do {
      const page = await this.call('list objects', () =>
        this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal }),
      )
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []))
      if (keys.length) {
        await this.call('delete objects', () =>
          this.client.send(new this.sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }), { abortSignal }),
        )
        deleted += keys.length
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return deleted
  }

  /** Release the SDK's sockets (shutdown, tests). */
  close(): void {
    this.client.destroy()
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send()
    } catch (err) {
      throw new BlobBackendError(`S3 could not ${what}: ${describe(err)}`, { cause: err })
    }
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404
}

// The SDK's errors name the S3 error code (AccessDenied, InvalidAccessKeyId, …) or the network's (ECONNREFUSED).
function describe(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''
  return `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}${status}`
}
