// The operator's backup and restore, as `npm run admin -- backup|restore` runs them (src/admin/commands/): what to
// do in, progress lines out, an exit code back.
import path from 'node:path'
import type { BlobBackend } from '../blob/blob-backend.ts'
import { blobBackend } from '../blob/backend-for-config.ts'
import { ConfigError, type Config } from '../config/index.ts'
import { backup, type BackupProgress } from './backup.ts'
import { BackupError, type BackupErrorKind } from './errors.ts'
import { restore, type RestoreProgress } from './restore.ts'

/** Exit codes: what happened, for scripts that run these. */
export const EXIT = {
  ok: 0,
  /** The work failed (destination full or not writable, no database, an I/O error); nothing was left half-done. */
  failed: 1,
  /** Bad arguments or configuration. */
  usage: 2,
  /** The backup is incomplete, damaged or not a backup: restore refused it. */
  invalidBackup: 3,
  /** The data directory to restore into is not empty: restore refused it. */
  notEmpty: 4,
} as const

const KIND_EXIT: Record<BackupErrorKind, number> = {
  destination: EXIT.failed,
  source: EXIT.failed,
  aborted: EXIT.failed,
  invalidBackup: EXIT.invalidBackup,
  notEmpty: EXIT.notEmpty,
}

export type CommandIo = {
  out: (line: string) => void
  err: (line: string) => void
  /** The server's configuration, read only when the data directory is not given. */
  config: () => Config
  signal?: AbortSignal
  /** `--json`: the outcome as one document, given here instead of the closing lines for people. */
  result?: (value: object) => void
}

/**
 * `backup <destination> [--data-dir <dir>]`: a new aurora-backup-<time> folder in `destination`, taken while the
 * server keeps running. Without `dataDir`, the server's configuration says where the data (and, for S3, the blobs) are.
 */
export async function backupCommand(args: { destination: string; dataDir?: string }, io: CommandIo): Promise<number> {
  let dataDirectory = args.dataDir
  let cfg: Config | undefined
  if (!dataDirectory) {
    try {
      cfg = io.config()
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      io.err(`aurora-locus backup: bad configuration: ${err.message}`)
      return EXIT.usage
    }
    dataDirectory = cfg.dataDirectory
  }
  dataDirectory = path.resolve(dataDirectory)
  const destination = path.resolve(args.destination)
  io.out(`backing up ${dataDirectory} into ${destination}`)
  let blobs: BlobBackend | undefined
  try {
    if (cfg?.blobstoreS3) {
      blobs = await blobBackend(cfg)
      io.out(`  blobs from the S3 bucket ${cfg.blobstoreS3.bucket}`)
    }
    const result = await backup({
      db: path.join(dataDirectory, 'pds.sqlite'),
      dataDirectory,
      blobBackend: blobs,
      destination,
      signal: io.signal,
      onProgress: progressPrinter(io),
    })
    const m = result.manifest
    if (io.result) io.result(result)
    else io.out(
      `backup written: ${result.path}\n` +
        `  snapshot at ${m.createdAt}, last seq ${m.snapshot.lastSeq}; ${m.counts.accounts} accounts, ` +
        `${m.counts.records} records, ${m.counts.blobs} blobs (${result.linkedBlobs} hard-linked, ${result.copiedBlobs} copied)`,
    )
    for (const b of result.damagedBlobs) io.err(`warning: blob ${b.cid} of ${b.did} left out: ${b.problem}`)
    return EXIT.ok
  } catch (err) {
    return failure(io, 'backup', err)
  } finally {
    blobs?.close()
  }
}

/** `restore <backup folder> <data directory>`, with the server (old and new) stopped: fills an empty data directory. */
export async function restoreCommand(args: { backup: string; dataDirectory: string }, io: CommandIo): Promise<number> {
  const [backupDir, dataDirectory] = [args.backup, args.dataDirectory].map((p) => path.resolve(p))
  io.out(`restoring ${backupDir} into ${dataDirectory}`)
  try {
    const result = await restore({ backupDir, dataDirectory, onProgress: progressPrinter(io), signal: io.signal })
    if (io.result) io.result({ dataDirectory, ...result })
    else io.out(
      `restored: the state of ${result.manifest.createdAt} (${result.manifest.counts.accounts} accounts, ` +
        `${result.blobs} blobs); what was written after that is not in it\n` +
        `  firehose: seq jumped from ${result.manifest.snapshot.lastSeq} to above ${result.seqFloor}; ` +
        `${result.events.count} events (seq ${result.events.first}-${result.events.last}) tell relays to re-sync\n` +
        `  now start the server with PDS_DATA_DIRECTORY=${dataDirectory}`,
    )
    return EXIT.ok
  } catch (err) {
    return failure(io, 'restore', err)
  }
}

function progressPrinter(io: CommandIo): (p: BackupProgress | RestoreProgress) => void {
  let lastTenth = -1
  return (p) => {
    if (p.phase === 'database') io.out(`  database: ${p.pagesDone} of ${p.pagesTotal} pages`)
    else if (p.phase === 'files') io.out(`  checking ${p.file}`)
    else if (p.phase === 'events') io.out(`  sequenced the restore's events for ${p.accounts} accounts`)
    else if (p.phase === 'blobs') {
      // About ten lines however many blobs there are.
      const tenth = Math.floor((p.done * 10) / Math.max(1, p.total))
      if (tenth !== lastTenth) io.out(`  blobs: ${p.done} of ${p.total}`)
      lastTenth = tenth
    }
  }
}

function failure(io: CommandIo, what: string, err: unknown): number {
  if (err instanceof BackupError) {
    io.err(`aurora-locus ${what}: ${err.message}`)
    return KIND_EXIT[err.kind]
  }
  io.err(`aurora-locus ${what}: ${(err as Error).stack ?? String(err)}`)
  return EXIT.failed
}
