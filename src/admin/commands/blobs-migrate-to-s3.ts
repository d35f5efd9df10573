import { existsSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { BlobIndex } from '../../blob/blob-index.ts'
import { DiskBlobBackend } from '../../blob/disk-backend.ts'
import { migrateBlobsToS3 } from '../../blob/migrate-to-s3.ts'
import { S3BlobBackend } from '../../blob/s3-backend.ts'
import { CliError } from '../../cli/errors.ts'
import { EXIT, printJson, type Command } from '../command.ts'

/**
 * Copy the disk blob store (<data>/blobs) to the configured S3 bucket (src/blob/migrate-to-s3.ts): resumable, safe
 * while the server runs on disk. Reads the database directly (read-only), so it runs on the server's machine.
 */
export const blobsMigrateToS3: Command = {
  name: 'blobs migrate-to-s3',
  summary: 'copy every blob from the data directory to the PDS_BLOBSTORE_S3_* bucket (resumable)',
  arity: [0, 0],
  run: async (ctx) => {
    const cfg = ctx.config()
    if (!cfg.blobstoreS3) throw new CliError('set PDS_BLOBSTORE_S3_BUCKET (and its neighbours, README "Blobs on S3") first', EXIT.usage)
    // Read-only beside the running server: WAL lets it read a consistent view while the server writes.
    const dbFile = path.join(cfg.dataDirectory, 'pds.sqlite')
    if (!existsSync(dbFile)) throw new CliError(`no database at ${dbFile}: is PDS_DATA_DIRECTORY the server's?`, EXIT.failed)
    const db = new Database(dbFile, { readonly: true, fileMustExist: true })
    const s3 = await S3BlobBackend.create(cfg.blobstoreS3)
    const progress = ctx.json ? undefined : ctx.out.progress('blobs looked at')
    try {
      const result = await migrateBlobsToS3({
        index: new BlobIndex(db),
        disk: new DiskBlobBackend(cfg.dataDirectory),
        s3,
        onProgress: (p) => progress?.update(p.done),
      }).catch((err: Error) => {
        throw new CliError(`cannot use the bucket ${cfg.blobstoreS3!.bucket}: ${err.message}`, EXIT.failed)
      })
      progress?.done()
      if (ctx.json) printJson(ctx, result)
      else {
        ctx.out.ok(
          `${result.total} blobs: ${result.copied} copied (${result.bytesCopied} bytes), ${result.alreadyThere} already in ${cfg.blobstoreS3.bucket}`,
        )
        for (const m of result.missing) ctx.out.warn(`not on disk, nothing to copy: ${m.did} ${m.cid}`)
        for (const f of result.failed) ctx.out.fail(`${f.did} ${f.cid}: ${f.error}`)
      }
      if (result.failed.length) throw new CliError(`${result.failed.length} blobs failed; run it again to retry them`, EXIT.failed)
    } finally {
      s3.close()
      db.close()
    }
  },
}
