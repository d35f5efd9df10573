// Periodic housekeeping that no request should wait for: uploads no record used within an hour, sessions whose
// refresh token expired, email tokens past their lifetime, OAuth sessions past the provider's longest lifetimes and
// used DPoP values past their window. (Firehose retention runs inside the firehose; expired OAuth authorization
// requests are pruned as requests are read.)
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
      const oauthSessions = ctx.oauthStores.tokens.pruneExpired()
      ctx.oauthStores.replay.pruneExpired()
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
  return () => clearInterval(timer)
}
