// Authorization requests (PAR and the authorize page) over SQLite, as the reference PDS's
// account-manager/helpers/authorization-request.js: one row per request until its code is exchanged.
import type { Code, FoundRequestResult, RequestData, RequestId, RequestStore, UpdateRequestData } from '@atproto/oauth-provider/store'
import type { Db } from '../db/index.ts'

/** Expired requests stay this long (ms), so that the provider can tell a late client "expired", not "unknown". */
const EXPIRED_KEPT_MS = 10 * 60 * 1000

type Row = {
  id: string
  did: string | null
  device_id: string | null
  client_id: string
  client_auth: string | null
  parameters: string
  expires_at: number
  code: string | null
}

export class SqliteRequestStore implements RequestStore {
  private readonly db: Db
  private readonly stmts

  constructor(db: Db) {
    this.db = db
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO oauth_authorization_request (id, did, device_id, client_id, client_auth, parameters, expires_at, code)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare('SELECT * FROM oauth_authorization_request WHERE id = ?'),
      delete: db.prepare('DELETE FROM oauth_authorization_request WHERE id = ?'),
      // DELETE … RETURNING: one statement, so two token requests racing with the same code cannot both get it.
      consume: db.prepare('DELETE FROM oauth_authorization_request WHERE code = ? AND code IS NOT NULL RETURNING *'),
      prune: db.prepare('DELETE FROM oauth_authorization_request WHERE expires_at < ?'),
    }
  }

  createRequest(id: RequestId, data: RequestData): void {
    this.stmts.insert.run(
      id,
      data.did,
      data.deviceId,
      data.clientId,
      data.clientAuth ? JSON.stringify(data.clientAuth) : null,
      JSON.stringify(data.parameters),
      data.expiresAt.getTime(),
      data.code,
    )
  }

  /** Expired requests are returned too (the provider answers them with its own error); older ones are pruned here. */
  readRequest(id: RequestId): RequestData | null {
    const row = this.stmts.get.get(id) as Row | undefined
    this.stmts.prune.run(Date.now() - EXPIRED_KEPT_MS)
    return row ? toRequestData(row) : null
  }

  updateRequest(id: RequestId, data: UpdateRequestData): void {
    const sets: string[] = []
    const values: unknown[] = []
    const set = (column: string, value: unknown) => {
      sets.push(`${column} = ?`)
      values.push(value)
    }
    if (data.code !== undefined) set('code', data.code)
    if (data.did !== undefined) set('did', data.did)
    if (data.deviceId !== undefined) set('device_id', data.deviceId)
    if (data.expiresAt != null) set('expires_at', data.expiresAt.getTime())
    if (data.parameters != null) set('parameters', JSON.stringify(data.parameters))
    if (sets.length === 0) return
    this.db.prepare(`UPDATE oauth_authorization_request SET ${sets.join(', ')} WHERE id = ?`).run(...values, id)
  }

  deleteRequest(id: RequestId): void {
    this.stmts.delete.run(id)
  }

  consumeRequestCode(code: Code): FoundRequestResult | null {
    const row = this.stmts.consume.get(code) as Row | undefined
    return row ? { requestId: row.id as RequestId, data: toRequestData(row) } : null
  }
}

function toRequestData(row: Row): RequestData {
  return {
    clientId: row.client_id,
    clientAuth: row.client_auth ? JSON.parse(row.client_auth) : null,
    parameters: JSON.parse(row.parameters),
    expiresAt: new Date(row.expires_at),
    deviceId: row.device_id as RequestData['deviceId'],
    did: row.did as RequestData['did'],
    code: row.code as RequestData['code'],
  }
}
