// Periodic housekeeping that no request should wait for: uploads no record used within an hour, sessions whose
// refresh token expired, email tokens past their lifetime, OAuth sessions past the provider's longest lifetimes and
// used DPoP values past their window; and, when PDS_BACKUP_DIRECTORY is set, the scheduled backups
// (src/backup/schedule.ts). (Firehose retention runs inside the firehose; expired OAuth authorization requests are
// pruned as requests are read.)
import { scheduleBackups } from './backup/schedule.ts'
import { blobBackend } from './blob/backend-for-config.ts'
import type { AppContext } from './context.ts'
import type { Db } from './db/index.ts'

const INTERVAL_MS = 10 * 60 * 1000

/** `db`: the server's connection, which backups copy from (its writes go on meanwhile). Returns the stop function. */
export function startMaintenance(ctx: AppContext, db: Db, intervalMs = INTERVAL_MS): () => void {
  let running = false
  const run = async () => {
    if (running) return
    running = true
    try {
      const blobs = await ctx.blobStore.deleteStaleUploads()
      const sessions = ctx.sessions.pruneExpired()
      const emailTokens = ctx.emailTokens.pruneExpired()
      const oauthSessions = ctx.oauth.tokens.pruneExpired()
      ctx.oauth.replay.pruneExpired()
      if (blobs || sessions || emailTokens || oauthSessions) {
        ctx.log.info(
          { blobs, sessions, emailTokens, oauthSessions },
          'maintenance: deleted stale uploads, sessions and email tokens',
        )
      }
    } catch (err) {
      ctx.log.error({ err }, 'maintenance failed')
    } finally {
      running = false
    }
  }
  const timer = setInterval(run, intervalMs)
  timer.unref()
  const backups = ctx.cfg.backup
    ? scheduleBackups({
        db,
        dataDirectory: ctx.cfg.dataDirectory,
        settings: ctx.cfg.backup,
        log: ctx.log,
        openBlobBackend: ctx.cfg.blobstoreS3 ? () => blobBackend(ctx.cfg) : undefined,
      })
    : null
  return () => {
    clearInterval(timer)
    // A backup in progress stops at its next step and removes its partial folder; the shutdown does not wait for it.
    void backups?.stop()
  }
}
