// Moving an existing disk blob store to S3 (`npm run admin -- blobs migrate-to-s3`): every blob the index lists is
// uploaded from <data>/blobs to its S3 key, unless the bucket already holds an object of the same size there, so a
// run that stops (Ctrl-C, a network failure) resumes where it was. The server may keep running on disk meanwhile;
// the operator runs it once more with the server stopped, to catch blobs uploaded since, then switches the config.
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { mapLimit } from '../util/map-limit.ts'
import type { BlobIndex } from './blob-index.ts'
import type { DiskBlobBackend } from './disk-backend.ts'
import type { S3BlobBackend } from './s3-backend.ts'

export type MigrationProgress = {
  /** Blobs in the index when the run started. */
  total: number
  /** Looked at so far: copied + alreadyThere + missing + failed. */
  done: number
  copied: number
  /** Already in the bucket with the right size (an earlier run's). */
  alreadyThere: number
  /** Listed in the index but absent from disk: reported, nothing to copy. */
  missing: { did: string; cid: string }[]
  failed: { did: string; cid: string; error: string }[]
  bytesCopied: number
}

export type MigrationOptions = {
  index: BlobIndex
  disk: DiskBlobBackend
  s3: S3BlobBackend
  /** Uploads in flight at once. */
  concurrency?: number
  /** Called after each blob. */
  onProgress?: (p: Readonly<MigrationProgress>) => void
}

const PAGE = 500

/**
 * Copy every indexed blob from disk to S3. Resolves with the counts; a blob that fails is listed in `failed` and the
 * run goes on (rerun to retry). Throws BlobBackendError only when the bucket can't be reached at all.
 */
export async function migrateBlobsToS3(opts: MigrationOptions): Promise<MigrationProgress> {
  const { index, disk, s3, concurrency = 4, onProgress } = opts
  await s3.check()
  const progress: MigrationProgress = {
    total: index.total(),
    done: 0,
    copied: 0,
    alreadyThere: 0,
    missing: [],
    failed: [],
    bytesCopied: 0,
  }
  const copyOne = async ({ did, cid, size }: { did: string; cid: string; size: number }) => {
    try {
      if ((await s3.sizeOf(did, cid)) === size) {
        progress.alreadyThere++
      } else {
        const file = disk.pathOf(did, cid)
        const onDisk = await stat(file).catch(() => null)
        if (!onDisk) {
          progress.missing.push({ did, cid })
        } else {
          await s3.put(did, cid, createReadStream(file))
          progress.copied++
          progress.bytesCopied += onDisk.size
        }
      }
    } catch (err) {
      progress.failed.push({ did, cid, error: (err as Error).message })
    }
    progress.done++
    onProgress?.(progress)
  }
  let after = { did: '', cid: '' }
  for (;;) {
    const rows = index.page(after, PAGE)
    if (!rows.length) break
    // A page's uploads run `concurrency` at a time; pages follow one another, so memory stays flat.
    await mapLimit(rows, concurrency, copyOne)
    after = rows[rows.length - 1]
  }
  return progress
}
