// Login sessions: one row each, named by the `sid` claim of both of its tokens. A refresh token works once: refreshing
// moves the row's `refresh_jti`, so a replayed refresh token no longer matches.
import type { Db } from '../db/index.ts'
import { AuthScope } from './scopes.ts'
import { TokenService, type RefreshClaims } from './tokens.ts'

export type SessionTokens = { accessJwt: string; refreshJwt: string }

type SessionRow = { id: string; did: string; app_password_name: string | null; privileged: number | null }

export class SessionService {
  private readonly tokens: TokenService
  private readonly stmts

  constructor(db: Db, tokens: TokenService) {
    this.tokens = tokens
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO session (id, did, app_password_name, refresh_jti, refresh_expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare(
        `SELECT s.id, s.did, s.app_password_name, ap.privileged FROM session s
         LEFT JOIN app_password ap ON ap.did = s.did AND ap.name = s.app_password_name
         WHERE s.id = ? AND s.did = ?`,
      ),
      rotate: db.prepare(
        `UPDATE session SET refresh_jti = ?, refresh_expires_at = ?
         WHERE id = ? AND did = ? AND refresh_jti = ?`,
      ),
      exists: db.prepare('SELECT 1 FROM session WHERE id = ? AND did = ?'),
      delete: db.prepare('DELETE FROM session WHERE id = ? AND did = ?'),
      deleteAll: db.prepare('DELETE FROM session WHERE did = ?'),
      prune: db.prepare('DELETE FROM session WHERE refresh_expires_at < ?'),
    }
  }

  /**
   * Sign the tokens of a new session. Nothing is stored until `save()` runs, so that a caller can store the session
   * inside its own (synchronous) SQLite transaction, together with the account it belongs to.
   */
  async mint(
    did: string,
    appPassword: { name: string; privileged: boolean } | null,
  ): Promise<{ tokens: SessionTokens; save: () => void }> {
    const sessionId = TokenService.newId()
    const refresh = await this.tokens.createRefreshToken(did, sessionId)
    const accessJwt = await this.tokens.createAccessToken(did, scopeFor(appPassword), sessionId)
    const save = () => {
      this.stmts.insert.run(sessionId, did, appPassword?.name ?? null, refresh.jti, refresh.exp, new Date().toISOString())
    }
    return { tokens: { accessJwt, refreshJwt: refresh.jwt }, save }
  }

  async create(did: string, appPassword: { name: string; privileged: boolean } | null): Promise<SessionTokens> {
    const { tokens, save } = await this.mint(did, appPassword)
    save()
    return tokens
  }

  /** Swap a valid refresh token for a new pair. Null when the token was already used or its session is gone. */
  async rotate(claims: RefreshClaims): Promise<SessionTokens | null> {
    const row = this.stmts.get.get(claims.sessionId, claims.did) as SessionRow | undefined
    if (!row) return null
    const refresh = await this.tokens.createRefreshToken(claims.did, claims.sessionId)
    const moved = this.stmts.rotate.run(refresh.jti, refresh.exp, claims.sessionId, claims.did, claims.jti)
    if (moved.changes === 0) return null
    const appPassword = row.app_password_name ? { name: row.app_password_name, privileged: !!row.privileged } : null
    const accessJwt = await this.tokens.createAccessToken(claims.did, scopeFor(appPassword), claims.sessionId)
    return { accessJwt, refreshJwt: refresh.jwt }
  }

  exists(sessionId: string, did: string): boolean {
    return this.stmts.exists.get(sessionId, did) !== undefined
  }

  delete(sessionId: string, did: string): void {
    this.stmts.delete.run(sessionId, did)
  }

  /** End every session of an account (takedown). */
  deleteAllFor(did: string): void {
    this.stmts.deleteAll.run(did)
  }

  pruneExpired(): number {
    return this.stmts.prune.run(Math.floor(Date.now() / 1000)).changes
  }
}

function scopeFor(appPassword: { privileged: boolean } | null): AuthScope {
  if (!appPassword) return AuthScope.Access
  return appPassword.privileged ? AuthScope.AppPassPrivileged : AuthScope.AppPass
}
