// The accounts signed in on each browser (oauth_account_device) and the clients each account authorized
// (oauth_authorized_client): the rows behind the AccountStore's device and consent methods, as the reference's
// account-manager/helpers/{account-device,authorized-client}.js. Rows go with their account and device.
import type { AuthorizedClientData, AuthorizedClients, ClientId, DeviceId } from '@atproto/oauth-provider/store'
import type { Db } from '../db/index.ts'
import type { DeviceRow } from './device-store.ts'

export type AccountDeviceRow = DeviceRow & { device_id: string; did: string; created_at: number; updated_at: number }

export class AccountDevices {
  private readonly stmts

  constructor(db: Db) {
    const select = `SELECT ad.device_id, ad.did, ad.created_at, ad.updated_at,
        d.session_id, d.user_agent, d.ip_address, d.last_seen_at
      FROM oauth_account_device ad JOIN oauth_device d ON d.id = ad.device_id`
    this.stmts = {
      upsert: db.prepare(
        `INSERT INTO oauth_account_device (device_id, did, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (device_id, did) DO UPDATE SET updated_at = excluded.updated_at`,
      ),
      get: db.prepare(`${select} WHERE ad.device_id = ? AND ad.did = ?`),
      byDid: db.prepare(`${select} WHERE ad.did = ?`),
      byDevice: db.prepare(`${select} WHERE ad.device_id = ?`),
      remove: db.prepare('DELETE FROM oauth_account_device WHERE device_id = ? AND did = ?'),
      upsertClient: db.prepare(
        `INSERT INTO oauth_authorized_client (did, client_id, created_at, updated_at, data) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (did, client_id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data`,
      ),
      clients: db.prepare('SELECT client_id, data FROM oauth_authorized_client WHERE did = ?'),
      deleteClients: db.prepare('DELETE FROM oauth_authorized_client WHERE did = ?'),
    }
  }

  /** Sign `did` in on the device, or refresh when it did. */
  upsert(deviceId: DeviceId, did: string): void {
    const now = Date.now()
    this.stmts.upsert.run(deviceId, did, now, now)
  }

  get(deviceId: DeviceId, did: string): AccountDeviceRow | undefined {
    return this.stmts.get.get(deviceId, did) as AccountDeviceRow | undefined
  }

  list(filter: { did: string } | { deviceId: DeviceId }): AccountDeviceRow[] {
    return ('did' in filter ? this.stmts.byDid.all(filter.did) : this.stmts.byDevice.all(filter.deviceId)) as AccountDeviceRow[]
  }

  remove(deviceId: DeviceId, did: string): void {
    this.stmts.remove.run(deviceId, did)
  }

  setAuthorizedClient(did: string, clientId: ClientId, data: AuthorizedClientData): void {
    const now = Date.now()
    this.stmts.upsertClient.run(did, clientId, now, now, JSON.stringify(data))
  }

  authorizedClients(did: string): AuthorizedClients {
    const rows = this.stmts.clients.all(did) as { client_id: string; data: string }[]
    return new Map(rows.map((r) => [r.client_id as ClientId, JSON.parse(r.data) as AuthorizedClientData]))
  }

  /** Forget every consent of the account (its deactivation, as the reference's deleteCredentials). */
  deleteAuthorizedClients(did: string): void {
    this.stmts.deleteClients.run(did)
  }
}
