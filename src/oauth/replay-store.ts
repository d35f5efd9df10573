// One-time values the provider must never accept twice (DPoP proof `jti`s, client assertion ids, ...), over SQLite
// so that a restart does not reopen the window. The reference keeps them in Redis or memory.
import type { ReplayStore } from '@atproto/oauth-provider/store'
import type { Db } from '../db/index.ts'

export class SqliteReplayStore implements ReplayStore {
  private readonly stmts

  constructor(db: Db) {
    this.stmts = {
      // Inserted, or an expired entry taken over: unique. A live entry with the same key is left alone: a replay.
      claim: db.prepare(
        `INSERT INTO oauth_replay (namespace, nonce, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (namespace, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE oauth_replay.expires_at <= ?`,
      ),
      prune: db.prepare('DELETE FROM oauth_replay WHERE expires_at <= ?'),
    }
  }

  /** True the first time `nonce` is seen in `namespace` within `timeFrame` ms; false for a replay. */
  unique(namespace: string, nonce: string, timeFrame: number): boolean {
    const now = Date.now()
    return this.stmts.claim.run(namespace, nonce, now + timeFrame, now).changes > 0
  }

  /** Forget values past their time frame (housekeeping). Returns how many. */
  pruneExpired(): number {
    return this.stmts.prune.run(Date.now()).changes
  }
}
