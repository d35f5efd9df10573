// Scheduled backups (PDS_BACKUP_DIRECTORY, PDS_BACKUP_INTERVAL_HOURS, PDS_BACKUP_KEEP): one every interval through
// the server's own database connection, never two at once, each result logged, the oldest beyond KEEP deleted.
import { readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { BlobBackend } from '../blob/blob-backend.ts'
import type { Config } from '../config/index.ts'
import type { Db } from '../db/index.ts'
import type { Logger } from '../logger.ts'
import { backup, BACKUP_PREFIX, PARTIAL_SUFFIX, type BackupResult } from './backup.ts'
import { BackupError } from './errors.ts'

/** A partial folder this old was left by a crash, not by a backup still running (CLI or server). */
const STALE_PARTIAL_MS = 24 * 60 * 60 * 1000

export type ScheduledRun =
  | { outcome: 'written'; result: BackupResult; deleted: string[] }
  | { outcome: 'skipped' }
  | { outcome: 'failed'; error: Error }

export type BackupSchedule = {
  /** Run one backup now (the timer's job); 'skipped' while another is running. */
  runNow(): Promise<ScheduledRun>
  /** Stop the timer and a backup in progress (its partial folder goes); resolves once it has ended. */
  stop(): Promise<void>
}

export function scheduleBackups(opts: {
  db: Db
  dataDirectory: string
  settings: NonNullable<Config['backup']>
  log: Logger
  /** For blobs on S3: a client of the store, opened for each backup and closed after it. Unset: the data directory. */
  openBlobBackend?: () => Promise<BlobBackend>
}): BackupSchedule {
  const { db, dataDirectory, settings, log } = opts
  const destination = settings.directory
  const stopping = new AbortController()
  let running: Promise<ScheduledRun> | null = null

  const run = async (): Promise<ScheduledRun> => {
    const started = Date.now()
    let blobBackend: BlobBackend | undefined
    try {
      blobBackend = await opts.openBlobBackend?.()
      const result = await backup({ db, dataDirectory, destination, blobBackend, signal: stopping.signal })
      const m = result.manifest
      log.info(
        {
          path: result.path,
          durationMs: Date.now() - started,
          lastSeq: m.snapshot.lastSeq,
          accounts: m.counts.accounts,
          records: m.counts.records,
          blobs: m.counts.blobs,
          linkedBlobs: result.linkedBlobs,
          copiedBlobs: result.copiedBlobs,
        },
        'backup written',
      )
      if (result.damagedBlobs.length > 0) {
        log.warn({ path: result.path, blobs: result.damagedBlobs.slice(0, 20) }, 'backup: blobs missing or damaged in the data directory were left out')
      }
      let deleted: string[] = []
      try {
        deleted = await prune(destination, settings.keep)
        if (deleted.length > 0) log.info({ deleted, keep: settings.keep }, 'backup: deleted the oldest backups')
      } catch (err) {
        log.error({ err, destination }, `backup: deleting the oldest backups failed: ${(err as Error).message}`)
      }
      return { outcome: 'written', result, deleted }
    } catch (err) {
      const error = err as Error
      if (err instanceof BackupError && err.kind === 'aborted') log.info({ destination }, 'backup stopped by shutdown')
      else log.error({ err, destination }, `backup failed: ${error.message}`)
      return { outcome: 'failed', error }
    } finally {
      blobBackend?.close()
    }
  }

  const runNow = (): Promise<ScheduledRun> => {
    if (running) {
      log.warn({ destination }, 'backup skipped: the previous one is still running')
      return Promise.resolve({ outcome: 'skipped' })
    }
    running = run().finally(() => (running = null))
    return running
  }

  const timer = setInterval(runNow, settings.intervalHours * 60 * 60 * 1000)
  timer.unref()
  return {
    runNow,
    stop: async () => {
      clearInterval(timer)
      stopping.abort()
      await running
    },
  }
}

/**
 * Delete the oldest complete backups in `destination` beyond the newest `keep` (names sort by time), and partial
 * folders a crash left a day or more ago. Returns the names deleted.
 */
export async function prune(destination: string, keep: number): Promise<string[]> {
  const names = await readdir(destination)
  const complete = names.filter((n) => n.startsWith(BACKUP_PREFIX)).sort()
  const doomed = complete.slice(0, Math.max(0, complete.length - keep))
  for (const name of names.filter((n) => n.startsWith(`.${BACKUP_PREFIX}`) && n.endsWith(PARTIAL_SUFFIX))) {
    const age = Date.now() - (await stat(path.join(destination, name))).mtimeMs
    if (age > STALE_PARTIAL_MS) doomed.push(name)
  }
  for (const name of doomed) await rm(path.join(destination, name), { recursive: true, force: true })
  return doomed
}
