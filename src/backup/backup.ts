// An online backup: a consistent copy of the live database made with SQLite's backup API while writes go on, the
// blobs that copy knows of, and a manifest, in a folder that gets its final name only once all of it is on disk.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import Database from 'better-sqlite3'
import type { BlobBackend } from '../blob/blob-backend.ts'
import type { Db } from '../db/index.ts'
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../util/private-fs.ts'
import { blobFileProblem, placeFile, syncToDisk, writeStreamToFile } from './blob-files.ts'
import { BackupError, destinationError, WRITE_ERROR_CODES } from './errors.ts'
import {
  BLOBS_DIR,
  DB_FILE,
  describeFile,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  SECRETS_FILE,
  type Manifest,
} from './manifest.ts'

const SOFTWARE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version

/** Complete backups are folders named so; they sort by time. */
export const BACKUP_PREFIX = 'aurora-backup-'
/** Work in progress (or left by a crash): never taken for a backup, whatever it holds. */
export const PARTIAL_SUFFIX = '.partial'

/**
 * Pages per step when the copy shares the server's connection: between steps the server goes on serving, and its
 * writes land in the copy too (SQLite updates a backup whose source is written through the same connection).
 */
const PAGES_PER_STEP = 1024
/** A separate connection copies in one step: another connection's write would restart a copy made in steps. */
const ALL_PAGES = 0x7fffffff
/** Snapshots taken when blob files vanished between a snapshot and their copy (see `backup`). */
const MAX_SNAPSHOTS = 3

export type BackupProgress =
  | { phase: 'database'; pagesDone: number; pagesTotal: number }
  | { phase: 'blobs'; done: number; total: number }
  | { phase: 'done'; path: string }

export type BackupOptions = {
  /**
   * The live database: the server's own connection (the scheduled backup), or the path of a database another process
   * is serving (the CLI), opened read-only here. SQLite's backup API gives a consistent copy either way.
   */
  db: Db | string
  /** The data directory the blobs (blobs/<did>/<cid>) and dev secrets (secrets.json) are read from. */
  dataDirectory: string
  /**
   * The blob store when blobs are not in the data directory (PDS_BLOBSTORE_S3_*): each blob is downloaded from it
   * into the backup. Unset: the data directory's files, hard-linked where the filesystem allows.
   */
  blobBackend?: BlobBackend
  /** The folder that receives the new backup folder (created, 0700, if missing). */
  destination: string
  onProgress?: (progress: BackupProgress) => void
  /** Stops the work at the next step; the partial folder is removed and BackupError 'aborted' thrown. */
  signal?: AbortSignal
}

export type BlobRow = { did: string; cid: string; size: number }

export type BackupResult = {
  /** The new backup's folder. */
  path: string
  manifest: Manifest
  linkedBlobs: number
  copiedBlobs: number
  /** Blobs the snapshot lists whose bytes the data directory does not have intact (missing or not their CID). */
  damagedBlobs: { did: string; cid: string; problem: string }[]
}

/**
 * Write a backup of the live server into a new folder `<destination>/aurora-backup-<time>` and return it. Writes go
 * on meanwhile; the backup holds the database as it was when its copy completed (`manifest.createdAt`) and every blob
 * that copy has a row for. Errors: BackupError 'destination' (full, not writable: nothing is left behind and the
 * server is not affected), 'source' (no database at that path), 'aborted'.
 */
export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const { destination, signal } = opts
  const own = typeof opts.db === 'string' ? openSource(opts.db) : null
  const source = own ?? (opts.db as Db)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const work = path.join(destination, `.${BACKUP_PREFIX}${stamp}-${randomBytes(4).toString('hex')}${PARTIAL_SUFFIX}`)
  try {
    await mkdir(destination, { recursive: true, mode: PRIVATE_DIR_MODE }).catch((err) => {
      throw destinationError(destination, err)
    })
    await mkdir(work, { mode: PRIVATE_DIR_MODE }).catch((err) => {
      throw destinationError(destination, err)
    })
    const dbCopy = path.join(work, DB_FILE)
    const placed = new Map<string, 'linked' | 'copied'>()
    let snapshot: Snapshot | undefined
    let gone: BlobRow[] = []
    // A blob's row goes before its file (src/blob/blob-store.ts), so a file that vanished after the snapshot belongs
    // to a row a newer snapshot no longer has: take one and copy what it adds. Rows still there after the last
    // snapshot are blobs the data directory lacks, noted in the result.
    for (let attempt = 1; attempt <= MAX_SNAPSHOTS && (!snapshot || gone.length > 0); attempt++) {
      await rm(dbCopy, { force: true })
      const takenAt = await copyDatabase(source, dbCopy, own !== null, opts)
      snapshot = readSnapshot(dbCopy, takenAt)
      gone = await placeBlobs(snapshot.blobs, placed, opts, work)
    }
    const snap = snapshot!
    const damaged = await checkBlobs(snap, placed, gone, opts, work)
    const files = [await describeFile(work, DB_FILE)]
    const secrets = path.join(opts.dataDirectory, SECRETS_FILE)
    if (existsSync(secrets)) {
      await placeFile(secrets, path.join(work, SECRETS_FILE), false).catch((err) => {
        throw destinationError(destination, err)
      })
      files.push(await describeFile(work, SECRETS_FILE))
    }
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      createdAt: snap.takenAt,
      softwareVersion: SOFTWARE_VERSION,
      schemaVersion: snap.schemaVersion,
      snapshot: { lastSeq: snap.lastSeq },
      counts: snap.counts,
      files,
      missingBlobs: damaged.map(({ did, cid }) => ({ did, cid })),
    }
    await writeSynced(path.join(work, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n')
    const final = await renameIntoPlace(work, destination, stamp)
    opts.onProgress?.({ phase: 'done', path: final })
    let linkedBlobs = 0
    for (const how of placed.values()) if (how === 'linked') linkedBlobs++
    return { path: final, manifest, linkedBlobs, copiedBlobs: placed.size - linkedBlobs, damagedBlobs: damaged }
  } catch (err) {
    await rm(work, { recursive: true, force: true }).catch(() => {})
    if (err instanceof BackupError) throw err
    if (signal?.aborted) throw new BackupError('aborted', 'the backup was stopped', { cause: err })
    throw destinationError(destination, err)
  } finally {
    own?.close()
  }
}

function openSource(file: string): Db {
  if (!existsSync(file)) throw new BackupError('source', `no database at ${file}: is that the data directory?`)
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true })
    // The server may hold the write lock for a moment; the copy's read waits instead of failing.
    db.pragma('busy_timeout = 5000')
    // Fail here, as the source's fault, if it cannot be read at all (permissions on the folder or its -shm file).
    db.prepare('SELECT count(*) FROM sqlite_master').get()
    return db
  } catch (err) {
    throw new BackupError('source', `cannot open ${file}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Copy the database; returns a time (ISO) no later than the moment whose state the copy holds: the start of the last
 * step. With a separate connection the last step copies everything under one read transaction, so the copy is the
 * state at some moment after that; through the server's connection, the copy follows every write to the end. A
 * restore's seq jump counts the old server's events from this time (seq-floor.ts), so it must not be late.
 */
async function copyDatabase(source: Db, dest: string, separateConnection: boolean, opts: BackupOptions): Promise<string> {
  let stepStartedAt = new Date().toISOString()
  try {
    const done = await source.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        if (opts.signal?.aborted) throw new BackupError('aborted', 'the backup was stopped')
        opts.onProgress?.({ phase: 'database', pagesDone: totalPages - remainingPages, pagesTotal: totalPages })
        stepStartedAt = new Date().toISOString()
        return separateConnection ? ALL_PAGES : PAGES_PER_STEP
      },
    })
    opts.onProgress?.({ phase: 'database', pagesDone: done.totalPages, pagesTotal: done.totalPages })
    // SQLite creates the copy with the umask's mode; it holds what the data directory keeps private.
    await chmod(dest, PRIVATE_FILE_MODE)
    return stepStartedAt
  } catch (err) {
    if (err instanceof BackupError) throw err
    if (opts.signal?.aborted) throw new BackupError('aborted', 'the backup was stopped', { cause: err })
    // Reading the live database fails with SQLITE_BUSY, SQLITE_CORRUPT, ...; writing the copy with FULL, CANTOPEN, IOERR.
    const code = (err as { code?: string }).code ?? ''
    if (/^SQLITE_(BUSY|LOCKED|CORRUPT|NOTADB)/.test(code)) {
      throw new BackupError('source', `cannot read the live database: ${(err as Error).message}`, { cause: err })
    }
    throw destinationError(opts.destination, err)
  }
}

type Snapshot = {
  takenAt: string
  schemaVersion: number
  lastSeq: number
  counts: Manifest['counts']
  blobs: BlobRow[]
}

/** What the copy holds, read from the copy itself: its state is the backup's, whatever the server did since. */
function readSnapshot(file: string, takenAt: string): Snapshot {
  // Not read-only: the copy is in WAL mode, and only a connection that may write removes its -wal and -shm on close
  // (a read-only one would leave them in the backup).
  const db = new Database(file, { fileMustExist: true })
  try {
    const one = (sql: string) => (db.prepare(sql).pluck().get() as number | null) ?? 0
    const blobs = db.prepare('SELECT did, cid, size FROM blob ORDER BY did, cid').all() as BlobRow[]
    return {
      takenAt,
      schemaVersion: one('SELECT max(version) FROM schema_migration'),
      lastSeq: one(`SELECT seq FROM sqlite_sequence WHERE name = 'repo_seq'`),
      counts: {
        accounts: one('SELECT count(*) FROM account'),
        repos: one('SELECT count(*) FROM repo_root'),
        records: one('SELECT count(*) FROM record'),
        events: one('SELECT count(*) FROM repo_seq'),
        blobs: blobs.length,
        blobBytes: blobs.reduce((sum, b) => sum + b.size, 0),
      },
      blobs,
    }
  } finally {
    db.close()
  }
}

const key = (b: { did: string; cid: string }) => `${b.did}/${b.cid}`

/** Link or copy each blob not placed yet; returns those whose file is not in the data directory. */
async function placeBlobs(
  blobs: BlobRow[],
  placed: Map<string, 'linked' | 'copied'>,
  opts: BackupOptions,
  work: string,
): Promise<BlobRow[]> {
  const gone: BlobRow[] = []
  let done = 0
  for (const blob of blobs) {
    if (opts.signal?.aborted) throw new BackupError('aborted', 'the backup was stopped')
    if (!placed.has(key(blob))) {
      const dst = path.join(work, BLOBS_DIR, blob.did, blob.cid)
      const how = opts.blobBackend ? await download(opts.blobBackend, blob, dst, opts) : await linkOrCopy(blob, dst, opts)
      if (how === 'gone') gone.push(blob)
      else placed.set(key(blob), how)
    }
    done++
    if (done % 100 === 0 || done === blobs.length) opts.onProgress?.({ phase: 'blobs', done, total: blobs.length })
  }
  return gone
}

async function linkOrCopy(blob: BlobRow, dst: string, opts: BackupOptions): Promise<'linked' | 'copied' | 'gone'> {
  const src = path.join(opts.dataDirectory, BLOBS_DIR, blob.did, blob.cid)
  if (!existsSync(src)) return 'gone'
  try {
    return await placeFile(src, dst, true)
  } catch (err) {
    // Gone between the check and the link.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(src)) return 'gone'
    throw destinationError(opts.destination, err)
  }
}

async function download(backend: BlobBackend, blob: BlobRow, dst: string, opts: BackupOptions): Promise<'copied' | 'gone'> {
  let body: Awaited<ReturnType<BlobBackend['open']>>
  try {
    body = await backend.open(blob.did, blob.cid)
  } catch (err) {
    throw new BackupError('source', `cannot read blob ${blob.cid} from the ${backend.kind} blob store: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (!body) return 'gone'
  try {
    await writeStreamToFile(body, dst)
    return 'copied'
  } catch (err) {
    // A write error is the destination's; a read error half-way the store's.
    if (WRITE_ERROR_CODES.has((err as { code?: string }).code ?? '')) throw destinationError(opts.destination, err)
    throw new BackupError('source', `reading blob ${blob.cid} from the ${backend.kind} blob store failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

/**
 * Drop files of blobs the final snapshot no longer has, and check every other against its CID and size. A blob that
 * fails (or never had a file) stays out of the backup and is reported.
 */
async function checkBlobs(
  snap: Snapshot,
  placed: Map<string, 'linked' | 'copied'>,
  gone: BlobRow[],
  opts: BackupOptions,
  work: string,
): Promise<BackupResult['damagedBlobs']> {
  const wanted = new Set(snap.blobs.map(key))
  for (const k of [...placed.keys()]) {
    if (wanted.has(k)) continue
    await rm(path.join(work, BLOBS_DIR, k), { force: true })
    placed.delete(k)
  }
  const damaged: BackupResult['damagedBlobs'] = gone.map((b) => ({ did: b.did, cid: b.cid, problem: 'no file in the data directory' }))
  for (const blob of snap.blobs) {
    if (opts.signal?.aborted) throw new BackupError('aborted', 'the backup was stopped')
    if (!placed.has(key(blob))) continue
    const problem = await blobFileProblem(path.join(work, BLOBS_DIR, blob.did, blob.cid), blob.cid, blob.size)
    if (problem) {
      damaged.push({ did: blob.did, cid: blob.cid, problem })
      await rm(path.join(work, BLOBS_DIR, blob.did, blob.cid), { force: true })
      placed.delete(key(blob))
    }
  }
  return damaged
}

async function writeSynced(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: PRIVATE_FILE_MODE, flag: 'wx' })
  await syncToDisk(file)
}

/** Rename the finished work folder to its final name (a suffix if two backups share a millisecond); sync the folder. */
async function renameIntoPlace(work: string, destination: string, stamp: string): Promise<string> {
  for (let n = 1; ; n++) {
    const final = path.join(destination, `${BACKUP_PREFIX}${stamp}${n === 1 ? '' : `-${n}`}`)
    if (existsSync(final)) continue
    await rename(work, final)
    await syncToDisk(destination)
    return final
  }
}
