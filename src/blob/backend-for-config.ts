// The configured blob backend: an S3-compatible bucket when PDS_BLOBSTORE_S3_BUCKET is set, else the data directory.
import type { Config } from '../config/index.ts'
import type { BlobBackend } from './blob-backend.ts'
import { DiskBlobBackend } from './disk-backend.ts'
import { S3BlobBackend } from './s3-backend.ts'

/** The SDK is loaded only here, when a bucket is configured. */
export async function blobBackend(cfg: Pick<Config, 'blobstoreS3' | 'dataDirectory'>): Promise<BlobBackend> {
  if (!cfg.blobstoreS3) return new DiskBlobBackend(cfg.dataDirectory)
  return S3BlobBackend.create(cfg.blobstoreS3)
}
