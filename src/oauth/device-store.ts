// The browsers that use the sign-in pages, over SQLite (the reference's account-manager/helpers/device.js). The
// provider identifies one by a cookie; its accounts are in oauth_account_device (account-devices.ts), which goes with it.
import type { DeviceData, DeviceId, DeviceStore } from '@atproto/oauth-provider/store'
import type { Db } from '../db/index.ts'

export type DeviceRow = {
  session_id: string
  user_agent: string | null
  ip_address: string
  last_seen_at: number
}

export class SqliteDeviceStore implements DeviceStore {
  private readonly stmts

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO oauth_device (id, session_id, user_agent, ip_address, last_seen_at) VALUES (?, ?, ?, ?, ?)',
      ),
      get: db.prepare('SELECT * FROM oauth_device WHERE id = ?'),
      update: db.prepare(
        `UPDATE oauth_device SET session_id = coalesce(?, session_id), user_agent = coalesce(?, user_agent),
           ip_address = coalesce(?, ip_address), last_seen_at = coalesce(?, last_seen_at) WHERE id = ?`,
      ),
      delete: db.prepare('DELETE FROM oauth_device WHERE id = ?'),
    }
  }

  createDevice(deviceId: DeviceId, data: DeviceData): void {
    this.stmts.insert.run(deviceId, data.sessionId, data.userAgent, data.ipAddress, data.lastSeenAt.getTime())
  }

  readDevice(deviceId: DeviceId): DeviceData | null {
    const row = this.stmts.get.get(deviceId) as DeviceRow | undefined
    return row ? toDeviceData(row) : null
  }

  /** Fields left undefined (or null) keep their value, as the reference's update. */
  updateDevice(deviceId: DeviceId, data: Partial<DeviceData>): void {
    this.stmts.update.run(
      data.sessionId ?? null,
      data.userAgent ?? null,
      data.ipAddress ?? null,
      data.lastSeenAt?.getTime() ?? null,
      deviceId,
    )
  }

  /** Its signed-in accounts go with it (ON DELETE CASCADE). */
  deleteDevice(deviceId: DeviceId): void {
    this.stmts.delete.run(deviceId)
  }
}

export function toDeviceData(row: DeviceRow): DeviceData {
  return {
    sessionId: row.session_id as DeviceData['sessionId'],
    userAgent: row.user_agent,
    ipAddress: row.ip_address,
    lastSeenAt: new Date(row.last_seen_at),
  }
}
