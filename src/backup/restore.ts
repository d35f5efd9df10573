// Restore a backup into an empty data directory, for a server to be started on afterwards. Nothing is trusted: the
// manifest, each file's checksum, SQLite's integrity_check and every blob's CID are checked before anything lands in
// the data directory. The restored log then skips ahead (seq-floor.ts) and announces every account, so relays that
// saw the old server's later events keep following this one and re-fetch what it holds now.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, rename, rm, rmdir, stat } from 'node:fs/promises'
import path from 'node:path'
import Database from 'better-sqlite3'
import { CID } from 'multiformats/cid'
import { openDatabase } from '../db/index.ts'
import { MigrationError } from '../db/migrate.ts'
import { accountEventBody, identityEventBody, syncEventBody } from '../protocol/events.ts'
import { repoStatusOf } from '../account/account-status.ts'
import { Sequencer } from '../sequencer/sequencer.ts'
import { mkdirPrivate } from '../util/private-fs.ts'
import { blobFileProblem, placeFile } from './blob-files.ts'
import { BackupError } from './errors.ts'
import { BLOBS_DIR, DB_FILE, readManifest, sha256File, type FileEntry, type Manifest } from './manifest.ts'
import type { BlobRow } from './backup.ts'
import { seqFloorAfterRestore } from './seq-floor.ts'

/** What a fresh filesystem puts in its root; a data directory on its own volume may hold it. */
const IGNORED_ENTRIES = new Set(['lost+found'])

export type RestoreProgress =
  | { phase: 'files'; file: string }
  | { phase: 'blobs'; done: number; total: number }
  | { phase: 'events'; accounts: number }
  | { phase: 'done'; dataDirectory: string }

export type RestoreOptions = {
  /** A backup folder (`aurora-backup-<time>`, the one holding manifest.json). */
  backupDir: string
  /** Where the server will run: missing, or an empty folder. */
  dataDirectory: string
  onProgress?: (progress: RestoreProgress) => void
  /** Stops the restore between two files (Ctrl-C): BackupError 'aborted', the data directory left as it was found. */
  signal?: AbortSignal
  /** The clock of the seq jump, epoch ms. */
  now?: () => number
}

export type RestoreResult = {
  manifest: Manifest
  /** Every seq the restored server emits is above this (seq-floor.ts). */
  seqFloor: number
  /** The events the restore sequenced: #account and #identity for every account, #sync for every active repo. */
  events: { first: number; last: number; count: number }
  blobs: number
}

/**
 * Fill the empty `dataDirectory` from `backupDir`. Errors (BackupError): 'notEmpty' (the data directory holds
 * anything; it is left alone), 'invalidBackup' (no or a foreign manifest, a file truncated or changed, a failed
 * integrity_check, a blob that is not its CID, a schema newer than this code, a clock far behind the backup's); any
 * file system error as it is. On failure the data directory is left as it was found.
 */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const { backupDir, dataDirectory, onProgress, signal } = opts
  const goOn = () => {
    if (signal?.aborted) throw new BackupError('aborted', `the restore was stopped; ${dataDirectory} is as it was`)
  }
  await assertEmpty(dataDirectory)
  const manifest = await readManifest(backupDir)
  mkdirPrivate(dataDirectory)
  // Built beside its final place (same filesystem, so moving it in is a rename) and moved in only once it is whole.
  const work = path.join(dataDirectory, `.restore-${randomBytes(4).toString('hex')}`)
  mkdirPrivate(work)
  try {
    for (const entry of manifest.files) {
      onProgress?.({ phase: 'files', file: entry.path })
      goOn()
      await copyChecked(backupDir, work, entry)
    }
    const dbFile = path.join(work, DB_FILE)
    const blobs = checkDatabase(dbFile, manifest)
    const missing = new Set(manifest.missingBlobs.map((b) => `${b.did}/${b.cid}`))
    let done = 0
    for (const blob of blobs) {
      goOn()
      if (!missing.has(`${blob.did}/${blob.cid}`)) await copyBlob(backupDir, work, blob)
      done++
      if (done % 100 === 0 || done === blobs.length) onProgress?.({ phase: 'blobs', done, total: blobs.length })
    }
    goOn()
    const seqFloor = seqFloorAfterRestore(manifest.snapshot.lastSeq, manifest.createdAt, (opts.now ?? Date.now)())
    const events = sequenceRestore(dbFile, seqFloor, (accounts) => onProgress?.({ phase: 'events', accounts }))
    await moveIntoPlace(work, dataDirectory)
    onProgress?.({ phase: 'done', dataDirectory })
    return { manifest, seqFloor, events, blobs: blobs.length - missing.size }
  } catch (err) {
    await rm(work, { recursive: true, force: true }).catch(() => {})
    throw err
  }
}

async function assertEmpty(dir: string): Promise<void> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return
    if (code === 'ENOTDIR') throw new BackupError('notEmpty', `${dir} is a file, not a data directory`)
    throw err
  }
  const present = entries.filter((e) => !IGNORED_ENTRIES.has(e))
  if (present.length > 0) {
    const shown = present.slice(0, 5).join(', ') + (present.length > 5 ? ', …' : '')
    throw new BackupError(
      'notEmpty',
      `${dir} is not empty (${shown}): a restore only fills an empty data directory, so nothing there is ` +
        'overwritten; stop the server, move that folder aside and restore into an empty one',
    )
  }
}

/** Copy one manifest file, then check the copy: what the server will run on is what the backup's checksum names. */
async function copyChecked(backupDir: string, work: string, entry: FileEntry): Promise<void> {
  const src = path.join(backupDir, entry.path)
  if (!existsSync(src)) throw new BackupError('invalidBackup', `the backup lacks ${entry.path}, which its manifest lists`)
  const dst = path.join(work, entry.path)
  await placeFile(src, dst, false)
  const size = (await stat(dst)).size
  if (size !== entry.size) {
    throw new BackupError('invalidBackup', `${entry.path} has ${size} bytes, the manifest says ${entry.size}: the backup is truncated or damaged`)
  }
  if ((await sha256File(dst)) !== entry.sha256) {
    throw new BackupError('invalidBackup', `${entry.path} does not match the manifest's SHA-256: the backup is damaged`)
  }
}

/** integrity_check, and the counts the manifest promised; returns the blob rows to copy. */
function checkDatabase(file: string, manifest: Manifest): BlobRow[] {
  let db: Database.Database
  try {
    db = new Database(file, { fileMustExist: true })
  } catch (err) {
    throw new BackupError('invalidBackup', `${DB_FILE} does not open as a SQLite database: ${(err as Error).message}`)
  }
  try {
    const problems = db.pragma('integrity_check', { simple: false }) as { integrity_check: string }[]
    if (problems.length !== 1 || problems[0].integrity_check !== 'ok') {
      const shown = problems.slice(0, 3).map((p) => p.integrity_check).join('; ')
      throw new BackupError('invalidBackup', `${DB_FILE} fails SQLite's integrity_check: ${shown}`)
    }
    const one = (sql: string) => (db.prepare(sql).pluck().get() as number | null) ?? 0
    const found = {
      accounts: one('SELECT count(*) FROM account'),
      lastSeq: one(`SELECT seq FROM sqlite_sequence WHERE name = 'repo_seq'`),
    }
    if (found.accounts !== manifest.counts.accounts || found.lastSeq !== manifest.snapshot.lastSeq) {
      throw new BackupError(
        'invalidBackup',
        `${DB_FILE} does not hold what the manifest says (accounts ${found.accounts} vs ${manifest.counts.accounts}, ` +
          `last seq ${found.lastSeq} vs ${manifest.snapshot.lastSeq})`,
      )
    }
    return db.prepare('SELECT did, cid, size FROM blob ORDER BY did, cid').all() as BlobRow[]
  } catch (err) {
    if (err instanceof BackupError) throw err
    throw new BackupError('invalidBackup', `${DB_FILE} cannot be read: ${(err as Error).message}`, { cause: err })
  } finally {
    db.close()
  }
}

async function copyBlob(backupDir: string, work: string, blob: BlobRow): Promise<void> {
  const src = path.join(backupDir, BLOBS_DIR, blob.did, blob.cid)
  if (!existsSync(src)) throw new BackupError('invalidBackup', `the backup lacks blob ${blob.cid} of ${blob.did}`)
  const dst = path.join(work, BLOBS_DIR, blob.did, blob.cid)
  await placeFile(src, dst, false)
  const problem = await blobFileProblem(dst, blob.cid, blob.size)
  if (problem) throw new BackupError('invalidBackup', `the backup's ${problem.replace(dst, src)}`)
}

/**
 * Bring the schema up to this code's (a backup from an older version), skip the log to `seqFloor`, and sequence for
 * every account its #account (status) and #identity, and for every active repo a #sync of its head commit: relays
 * take the restored state as current, and re-fetch repos whose commits after the snapshot are gone. An inactive
 * repo gets no #sync: relays cannot fetch it, and its head may be signed by another PDS (an account moving in);
 * its activation sequences one. Returns the events' seqs.
 */
function sequenceRestore(file: string, seqFloor: number, onAccounts: (n: number) => void): RestoreResult['events'] {
  let db: Database.Database
  try {
    db = openDatabase(file)
  } catch (err) {
    if (err instanceof MigrationError) throw new BackupError('invalidBackup', err.message)
    throw err
  }
  try {
    const sequencer = new Sequencer(db)
    const accounts = db
      .prepare(
        `SELECT a.did, a.handle, a.deactivated_at, a.takedown_ref, r.cid, r.rev, b.content
         FROM account a
         LEFT JOIN repo_root r ON r.did = a.did
         LEFT JOIN repo_block b ON b.did = r.did AND b.cid = r.cid
         ORDER BY a.created_at, a.did`,
      )
      .all() as {
      did: string
      handle: string
      deactivated_at: string | null
      takedown_ref: string | null
      cid: string | null
      rev: string | null
      content: Uint8Array | null
    }[]
    let first = 0
    let last = 0
    sequencer.writeTransaction(() => {
      sequencer.skipTo(seqFloor)
      for (const a of accounts) {
        const status = repoStatusOf(a)
        const seq = sequencer.append(a.did, 'account', accountEventBody(a.did, status.active, status.status))
        first ||= seq
        last = sequencer.append(a.did, 'identity', identityEventBody(a.did, a.handle))
        if (status.active && a.cid && a.rev && a.content) {
          last = sequencer.append(a.did, 'sync', syncEventBody(a.did, { cid: CID.parse(a.cid), rev: a.rev, bytes: a.content }))
        }
      }
    })
    onAccounts(accounts.length)
    return { first, last, count: first ? last - first + 1 : 0 }
  } finally {
    db.close()
  }
}

/** Blobs and secrets first, the database last: a data directory that has the restored database has everything. */
async function moveIntoPlace(work: string, dataDirectory: string): Promise<void> {
  const entries = await readdir(work)
  const dbFirst = (name: string) => (name === DB_FILE ? 2 : name.startsWith(DB_FILE) ? 1 : 0)
  entries.sort((a, b) => dbFirst(a) - dbFirst(b))
  for (const name of entries) await rename(path.join(work, name), path.join(dataDirectory, name))
  await rmdir(work)
}
