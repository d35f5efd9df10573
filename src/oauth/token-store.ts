// OAuth sessions over SQLite, as the reference PDS's OAuthStore token methods (account-manager/oauth-store.js with
// helpers/token.js and helpers/used-refresh-token.js). A session is one row whose access token id (`token_id`) and
// refresh token move on at each refresh; the refresh token it replaces is kept in oauth_used_refresh_token, so that
// presenting it again finds the session and the provider, seeing a replay, revokes the whole session. Rows go with
// their account (deletion), and are deleted when it is taken down or its password is reset (deleteAllFor).
import { REFRESH_LIFETIME_EXTENDED, SESSION_LIFETIME_EXTENDED } from '@atproto/oauth-provider/constants'
import type {
  Account,
  Code,
  CreateTokenData,
  NewTokenData,
  RefreshToken,
  TokenId,
  TokenInfo,
  TokenStore,
} from '@atproto/oauth-provider/store'
import type { Db } from '../db/index.ts'

type Row = {
  id: number
  did: string
  token_id: string
  created_at: number
  updated_at: number
  expires_at: number
  client_id: string
  client_auth: string
  device_id: string | null
  parameters: string
  code: string | null
  current_refresh_token: string | null
  scope: string | null
}

/** Builds the provider's view of an account (handle, email, profile name and picture); null when it is gone. */
export type AccountView = (did: string) => Account | null

export class SqliteTokenStore implements TokenStore {
  private readonly db: Db
  private readonly account: AccountView
  private readonly stmts

  constructor(db: Db, account: AccountView) {
    this.db = db
    this.account = account
    // Tokens of a taken-down account are not found, as in the reference (which joins on active accounts).
    const select = 'SELECT t.* FROM oauth_token t JOIN account a ON a.did = t.did AND a.takedown_ref IS NULL'
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO oauth_token (did, token_id, created_at, updated_at, expires_at, client_id, client_auth, device_id,
           parameters, details, code, current_refresh_token, scope)
         VALUES (@did, @token_id, @created_at, @updated_at, @expires_at, @client_id, @client_auth, @device_id,
           @parameters, @details, @code, @current_refresh_token, @scope)`,
      ),
      byTokenId: db.prepare(`${select} WHERE t.token_id = ?`),
      byId: db.prepare(`${select} WHERE t.id = ?`),
      byCode: db.prepare(`${select} WHERE t.code = ? AND t.code IS NOT NULL`),
      byRefresh: db.prepare(`${select} WHERE t.current_refresh_token = ?`),
      byDid: db.prepare(`${select} WHERE t.did = ?`),
      forRotate: db.prepare(
        'SELECT id, current_refresh_token FROM oauth_token WHERE token_id = ? AND current_refresh_token IS NOT NULL',
      ),
      rotate: db.prepare(
        `UPDATE oauth_token SET token_id = ?, current_refresh_token = ?, expires_at = ?, updated_at = ?, client_auth = ?,
           scope = ? WHERE id = ?`,
      ),
      usedBy: db.prepare('SELECT token_id FROM oauth_used_refresh_token WHERE refresh_token = ?').pluck(),
      insertUsed: db.prepare(
        'INSERT INTO oauth_used_refresh_token (refresh_token, token_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
      ),
      delete: db.prepare('DELETE FROM oauth_token WHERE token_id = ?'),
      deleteByDid: db.prepare('DELETE FROM oauth_token WHERE did = ?'),
      prune: db.prepare('DELETE FROM oauth_token WHERE created_at < ? OR updated_at < ?'),
      countLive: db.prepare('SELECT count(*) FROM oauth_token WHERE created_at >= ? AND updated_at >= ?').pluck(),
    }
  }

  /** Refuses a refresh token that was already spent (it would revive a session the provider revoked). */
  createToken(tokenId: TokenId, data: CreateTokenData, refreshToken?: RefreshToken): void {
    this.db.transaction(() => {
      if (refreshToken && this.stmts.usedBy.get(refreshToken) !== undefined) {
        throw new Error('Refresh token already in use')
      }
      this.stmts.insert.run({
        did: data.did,
        token_id: tokenId,
        created_at: data.createdAt.getTime(),
        updated_at: data.updatedAt.getTime(),
        expires_at: data.expiresAt.getTime(),
        client_id: data.clientId,
        client_auth: JSON.stringify(data.clientAuth),
        device_id: data.deviceId,
        parameters: JSON.stringify(data.parameters),
        details: data.details ? JSON.stringify(data.details) : null,
        code: data.code,
        current_refresh_token: refreshToken ?? null,
        scope: data.scope,
      })
    })()
  }

  readToken(tokenId: TokenId): TokenInfo | null {
    return this.info(this.stmts.byTokenId.get(tokenId) as Row | undefined)
  }

  /** Spent refresh tokens go with it (ON DELETE CASCADE). */
  deleteToken(tokenId: TokenId): void {
    this.stmts.delete.run(tokenId)
  }

  /**
   * Move the session on to `newTokenId` and `newRefreshToken`, keeping its current refresh token as spent. A new
   * refresh token that was already spent is refused, after the old one is recorded as spent (the reference commits
   * that much before throwing). Throws when the session is gone or has no refresh token.
   */
  rotateToken(tokenId: TokenId, newTokenId: TokenId, newRefreshToken: RefreshToken, newData: NewTokenData): void {
    const refused = this.db.transaction((): Error | undefined => {
      const row = this.stmts.forRotate.get(tokenId) as { id: number; current_refresh_token: string } | undefined
      if (!row) throw new Error('Token not found')
      this.stmts.insertUsed.run(row.current_refresh_token, row.id)
      if (this.stmts.usedBy.get(newRefreshToken) !== undefined) return new Error('New refresh token already in use')
      this.stmts.rotate.run(
        newTokenId,
        newRefreshToken,
        newData.expiresAt.getTime(),
        newData.updatedAt.getTime(),
        JSON.stringify(newData.clientAuth),
        newData.scope,
        row.id,
      )
      return undefined
    })()
    if (refused) throw refused
  }

  /** The session a refresh token belongs to, a spent one included (the provider then sees the replay). */
  findTokenByRefreshToken(refreshToken: RefreshToken): TokenInfo | null {
    const usedBy = this.stmts.usedBy.get(refreshToken) as number | undefined
    const row = usedBy !== undefined ? this.stmts.byId.get(usedBy) : this.stmts.byRefresh.get(refreshToken)
    return this.info(row as Row | undefined)
  }

  findTokenByCode(code: Code): TokenInfo | null {
    return this.info(this.stmts.byCode.get(code) as Row | undefined)
  }

  listAccountTokens(did: string): TokenInfo[] {
    return (this.stmts.byDid.all(did) as Row[]).map((row) => this.info(row)).filter((t) => t !== null)
  }

  /** End every OAuth session of the account: its access tokens are refused at once (stateful mode). */
  deleteAllFor(did: string): void {
    this.stmts.deleteByDid.run(did)
  }

  /** Sessions that may still be refreshed under the provider's longest lifetimes (the status page's figure). */
  countActive(now = Date.now()): number {
    return this.stmts.countLive.get(now - SESSION_LIFETIME_EXTENDED, now - REFRESH_LIFETIME_EXTENDED) as number
  }

  /** Delete sessions past the provider's longest lifetimes, which it would refuse anyway. Returns how many. */
  pruneExpired(now = Date.now()): number {
    return this.stmts.prune.run(now - SESSION_LIFETIME_EXTENDED, now - REFRESH_LIFETIME_EXTENDED).changes
  }

  private info(row: Row | undefined): TokenInfo | null {
    if (!row) return null
    const account = this.account(row.did)
    if (!account) return null
    return {
      id: row.token_id as TokenId,
      account,
      currentRefreshToken: row.current_refresh_token as RefreshToken | null,
      data: {
        createdAt: new Date(row.created_at),
        updatedAt: new Date(row.updated_at),
        expiresAt: new Date(row.expires_at),
        clientId: row.client_id,
        clientAuth: JSON.parse(row.client_auth),
        deviceId: row.device_id as TokenInfo['data']['deviceId'],
        did: row.did as TokenInfo['data']['did'],
        parameters: JSON.parse(row.parameters),
        code: row.code as Code | null,
        scope: row.scope,
      },
    }
  }
}
