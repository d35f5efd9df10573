// Periodic housekeeping that no request should wait for: uploads no record used within an hour, sessions whose
// refresh token expired, and email tokens past their lifetime. (Firehose retention runs inside the firehose.)
import type { AppContext } from './context.ts'

const INTERVAL_MS = 10 * 60 * 1000

export function startMaintenance(ctx: AppContext, intervalMs = INTERVAL_MS): () => void {
  let running = false
  const run = async () => {
    if (running) return
    running = true
    try {
      const blobs = await ctx.blobStore.deleteStaleUploads()
      const sessions = ctx.sessions.pruneExpired()
      const emailTokens = ctx.emailTokens.pruneExpired()
      if (blobs || sessions || emailTokens) {
        ctx.log.info({ blobs, sessions, emailTokens }, 'maintenance: deleted stale uploads, sessions and email tokens')
      }
    } catch (err) {
      ctx.log.error({ err }, 'maintenance failed')
    } finally {
      running = false
    }
  }
  const timer = setInterval(run, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
