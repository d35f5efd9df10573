// Login sessions: one row each, named by the `sid` claim of both of its tokens. Refreshing moves the row's
// `refresh_jti` to a new token; the spent one stays usable for a grace period, like the reference PDS's, so that a
// client that lost the answer to a refresh (flaky network, a second tab) can retry instead of being logged out.
import type { Db } from '../db/index.ts'
import { AuthScope } from './scopes.ts'
import { TokenService, type RefreshClaims } from './tokens.ts'

export type SessionTokens = { accessJwt: string; refreshJwt: string }

/** How long a spent refresh token still works (the reference's REFRESH_GRACE_MS), capped at its own expiry. */
export const REFRESH_GRACE_SECONDS = 2 * 60 * 60

/**
 * Sessions one account may hold. A login beyond it ends the session least recently logged in or refreshed (the
 * lowest refresh-token expiry, which every refresh pushes 90 days ahead; creation order among equals), so that a
 * leaked password or a login loop cannot grow the table without bound. The reference PDS keeps no such cap; 100 is
 * far more devices and apps than a person uses, and 100 rows per account are nothing to store.
 */
export const MAX_SESSIONS_PER_ACCOUNT = 100

type SessionRow = {
  id: string
  did: string
  app_password_name: string | null
  privileged: number | null
  refresh_jti: string
}
type UsedRow = { next_jti: string; next_expires_at: number; grace_expires_at: number }

export class SessionService {
  private readonly db: Db
  private readonly tokens: TokenService
  private readonly stmts

  constructor(db: Db, tokens: TokenService) {
    this.db = db
    this.tokens = tokens
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO session (id, did, app_password_name, refresh_jti, refresh_expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare(
        `SELECT s.id, s.did, s.app_password_name, s.refresh_jti, ap.privileged FROM session s
         LEFT JOIN app_password ap ON ap.did = s.did AND ap.name = s.app_password_name
         WHERE s.id = ? AND s.did = ?`,
      ),
      rotate: db.prepare(
        `UPDATE session SET refresh_jti = ?, refresh_expires_at = ?
         WHERE id = ? AND did = ? AND refresh_jti = ?`,
      ),
      insertUsed: db.prepare(
        `INSERT INTO used_refresh_token (jti, session_id, next_jti, next_expires_at, grace_expires_at)
         VALUES (?, ?, ?, ?, ?)`,
      ),
      getUsed: db.prepare(
        'SELECT next_jti, next_expires_at, grace_expires_at FROM used_refresh_token WHERE jti = ? AND session_id = ?',
      ),
      exists: db.prepare('SELECT 1 FROM session WHERE id = ? AND did = ?'),
      delete: db.prepare('DELETE FROM session WHERE id = ? AND did = ?'),
      deleteAll: db.prepare('DELETE FROM session WHERE did = ?'),
      // Every session of the account past the newest `?`; rowid: insertion order, for sessions with equal expiry.
      trim: db.prepare(
        `DELETE FROM session WHERE id IN (
           SELECT id FROM session WHERE did = ? ORDER BY refresh_expires_at DESC, rowid DESC LIMIT -1 OFFSET ?)`,
      ),
      prune: db.prepare('DELETE FROM session WHERE refresh_expires_at < ?'),
      pruneUsed: db.prepare('DELETE FROM used_refresh_token WHERE grace_expires_at <= ?'),
    }
  }

  /**
   * Sign the tokens of a new session. Nothing is stored until `save()` runs, so that a caller can store the session
   * inside its own (synchronous) SQLite transaction, together with the account it belongs to. Saving also ends the
   * account's sessions beyond MAX_SESSIONS_PER_ACCOUNT; run it inside a transaction.
   */
  async mint(
    did: string,
    appPassword: { name: string; privileged: boolean } | null,
  ): Promise<{ tokens: SessionTokens; save: () => void }> {
    const sessionId = TokenService.newId()
    const refresh = await this.tokens.createRefreshToken(did, sessionId)
    const accessJwt = await this.tokens.createAccessToken(did, scopeFor(appPassword), sessionId)
    const save = () => {
      const createdAt = new Date(this.tokens.now()).toISOString()
      this.stmts.insert.run(sessionId, did, appPassword?.name ?? null, refresh.jti, refresh.exp, createdAt)
      this.stmts.trim.run(did, MAX_SESSIONS_PER_ACCOUNT)
    }
    return { tokens: { accessJwt, refreshJwt: refresh.jwt }, save }
  }

  async create(did: string, appPassword: { name: string; privileged: boolean } | null): Promise<SessionTokens> {
    const { tokens, save } = await this.mint(did, appPassword)
    this.db.transaction(save)()
    return tokens
  }

  /**
   * Swap a refresh token for a new pair. The session's current token moves the session on to a new refresh token
   * and is kept as spent for REFRESH_GRACE_SECONDS (capped at its expiry). A spent token inside that window gets its
   * replacement again (same `jti` and expiry, as the reference re-issues the same next token id), so that retries
   * and racing refreshes converge on one live token. Null when the session is gone, or the token is unknown or past
   * its grace: the caller answers the reference's 400 ExpiredToken.
   */
  async rotate(claims: RefreshClaims): Promise<SessionTokens | null> {
    // Twice at most: losing a race to a concurrent refresh of the same token makes it a spent token, served below.
    for (let attempt = 0; attempt < 2; attempt++) {
      const row = this.stmts.get.get(claims.sessionId, claims.did) as SessionRow | undefined
      if (!row) return null
      const appPassword = row.app_password_name ? { name: row.app_password_name, privileged: !!row.privileged } : null
      if (row.refresh_jti !== claims.jti) {
        const used = this.stmts.getUsed.get(claims.jti, claims.sessionId) as UsedRow | undefined
        if (!used || used.grace_expires_at <= this.tokens.nowSeconds()) return null
        return this.sign(claims, appPassword, { jti: used.next_jti, exp: used.next_expires_at })
      }
      const next = await this.tokens.createRefreshToken(claims.did, claims.sessionId)
      const graceExpiresAt = Math.min(this.tokens.nowSeconds() + REFRESH_GRACE_SECONDS, claims.exp)
      // Signing awaited, so the row is matched on the old jti again: another refresh may have moved it meanwhile.
      const moved = this.db.transaction(() => {
        const changed = this.stmts.rotate.run(next.jti, next.exp, claims.sessionId, claims.did, claims.jti).changes
        if (changed === 0) return false
        this.stmts.insertUsed.run(claims.jti, claims.sessionId, next.jti, next.exp, graceExpiresAt)
        return true
      })()
      if (!moved) continue
      const accessJwt = await this.tokens.createAccessToken(claims.did, scopeFor(appPassword), claims.sessionId)
      return { accessJwt, refreshJwt: next.jwt }
    }
    return null
  }

  /**
   * Whether a refresh token may still act for its session: the current one, or a spent one inside its grace window.
   * The refresh-auth verifier (src/xrpc/auth.ts) refuses any other before a method sees it, so a long-spent token
   * can neither refresh nor log the session out.
   */
  isLiveRefresh(claims: RefreshClaims): boolean {
    const row = this.stmts.get.get(claims.sessionId, claims.did) as SessionRow | undefined
    if (!row) return false
    if (row.refresh_jti === claims.jti) return true
    const used = this.stmts.getUsed.get(claims.jti, claims.sessionId) as UsedRow | undefined
    return !!used && used.grace_expires_at > this.tokens.nowSeconds()
  }

  exists(sessionId: string, did: string): boolean {
    return this.stmts.exists.get(sessionId, did) !== undefined
  }

  /** End a session: its access token, its current refresh token and any spent ones stop working at once. */
  delete(sessionId: string, did: string): void {
    this.stmts.delete.run(sessionId, did)
  }

  /** End every session of an account (takedown). */
  deleteAllFor(did: string): void {
    this.stmts.deleteAll.run(did)
  }

  /** Delete sessions whose refresh token expired and spent tokens past their grace. Returns the sessions deleted. */
  pruneExpired(): number {
    const now = this.tokens.nowSeconds()
    this.stmts.pruneUsed.run(now)
    return this.stmts.prune.run(now).changes
  }

  private async sign(
    claims: RefreshClaims,
    appPassword: { privileged: boolean } | null,
    refresh: { jti: string; exp: number },
  ): Promise<SessionTokens> {
    const [next, accessJwt] = await Promise.all([
      this.tokens.createRefreshToken(claims.did, claims.sessionId, refresh),
      this.tokens.createAccessToken(claims.did, scopeFor(appPassword), claims.sessionId),
    ])
    return { accessJwt, refreshJwt: next.jwt }
  }
}

function scopeFor(appPassword: { privileged: boolean } | null): AuthScope {
  if (!appPassword) return AuthScope.Access
  return appPassword.privileged ? AuthScope.AppPassPrivileged : AuthScope.AppPass
}
