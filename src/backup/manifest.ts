// A backup's manifest.json: what the backup holds and how to tell it is whole. Written last, inside a folder that only
// gets its final name once everything is on disk, so a backup without a readable manifest is never a good one.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { z } from 'zod'
import { BackupError } from './errors.ts'

export const MANIFEST_FILE = 'manifest.json'
export const MANIFEST_FORMAT = 'aurora-locus-backup'
/** Bumped when the layout changes in a way an older restore could not read. */
export const MANIFEST_VERSION = 1
/** The database copy inside a backup, and the same name in the data directory. */
export const DB_FILE = 'pds.sqlite'
/** Dev-mode secrets kept in the data directory (src/config/secrets.ts); production sets them in the environment. */
export const SECRETS_FILE = 'secrets.json'
/** Blob bytes: blobs/<did>/<cid>, as in the data directory (src/blob/blob-store.ts). */
export const BLOBS_DIR = 'blobs'

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/)
const count = z.number().int().min(0)

const fileEntry = z.object({ path: z.enum([DB_FILE, SECRETS_FILE]), size: count, sha256: sha256Hex })

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  /** When the state the backup holds was current (ISO; if anything a little early: backup.ts copyDatabase). */
  createdAt: z.iso.datetime(),
  /** The Aurora Locus version that wrote it, and the database's schema (migration) version. */
  softwareVersion: z.string(),
  schemaVersion: count,
  snapshot: z.object({
    /** The highest seq the old server had assigned at the snapshot (pruned events included). */
    lastSeq: count,
  }),
  counts: z.object({
    accounts: count,
    repos: count,
    records: count,
    events: count,
    /** Blob rows in the snapshot, each copied to blobs/<did>/<cid> and checked against its CID and size. */
    blobs: count,
    blobBytes: count,
  }),
  /** Each file with its size and SHA-256; blobs are checked by their CIDs instead. */
  files: z.array(fileEntry).min(1),
  /**
   * Blob rows whose bytes the data directory did not have intact when the backup was made: not in the backup, and
   * not its fault (the live server could not serve them either).
   */
  missingBlobs: z.array(z.object({ did: z.string(), cid: z.string() })),
})

export type Manifest = z.infer<typeof manifestSchema>
export type FileEntry = z.infer<typeof fileEntry>

/** SHA-256 of a file's bytes, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return hash.digest('hex')
}

/** Size and SHA-256 of `name` inside `dir`, for the manifest. */
export async function describeFile(dir: string, name: FileEntry['path']): Promise<FileEntry> {
  const file = path.join(dir, name)
  return { path: name, size: (await stat(file)).size, sha256: await sha256File(file) }
}

/** Read and check a backup's manifest; a missing, unreadable or foreign one is BackupError invalidBackup. */
export async function readManifest(backupDir: string): Promise<Manifest> {
  let text: string
  try {
    text = await readFile(path.join(backupDir, MANIFEST_FILE), 'utf8')
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    throw new BackupError(
      'invalidBackup',
      missing
        ? `${backupDir} has no ${MANIFEST_FILE}: not a backup, or one that never finished`
        : `cannot read ${path.join(backupDir, MANIFEST_FILE)}: ${(err as Error).message}`,
      { cause: err },
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new BackupError('invalidBackup', `${MANIFEST_FILE} is not JSON (truncated?): ${(err as Error).message}`)
  }
  const parsed = manifestSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new BackupError('invalidBackup', `${MANIFEST_FILE} is not an Aurora Locus backup manifest of version ` +
      `${MANIFEST_VERSION}: ${issue.path.join('.') || '(top)'}: ${issue.message}`)
  }
  return parsed.data
}
