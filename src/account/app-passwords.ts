// App passwords: named, revocable logins for third-party apps. Their hash is salted with the account's DID, so a
// login finds the matching row with one hash and one indexed lookup instead of trying every stored hash: checking a
// password costs the same whether the account has no app password or fifty.
import type { Db } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'
import { generateAppPassword, scryptHash } from './passwords.ts'

export type AppPassword = { name: string; createdAt: string; privileged: boolean }

const MAX_PER_ACCOUNT = 50

/** scrypt(password, salt = the DID, 32 bytes), hex: the stored form (off the event loop, see passwords.ts). */
async function hashAppPassword(did: string, password: string): Promise<string> {
  return (await scryptHash(password, did, 32)).toString('hex')
}

export class AppPasswordService {
  private readonly stmts

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO app_password (did, name, password_scrypt, privileged, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      exists: db.prepare('SELECT 1 FROM app_password WHERE did = ? AND name = ?'),
      count: db.prepare('SELECT count(*) AS n FROM app_password WHERE did = ?'),
      list: db.prepare(
        'SELECT name, created_at, privileged FROM app_password WHERE did = ? ORDER BY created_at DESC, name',
      ),
      byHash: db.prepare('SELECT name, privileged FROM app_password WHERE did = ? AND password_scrypt = ?'),
      delete: db.prepare('DELETE FROM app_password WHERE did = ? AND name = ?'),
      deleteAll: db.prepare('DELETE FROM app_password WHERE did = ?'),
    }
  }

  async create(did: string, name: string, privileged: boolean): Promise<AppPassword & { password: string }> {
    this.ensureRoomFor(did, name)
    const password = generateAppPassword()
    const hash = await hashAppPassword(did, password)
    // Checked again: a concurrent create may have taken the name or the last slot while we hashed.
    this.ensureRoomFor(did, name)
    const createdAt = new Date().toISOString()
    this.stmts.insert.run(did, name, hash, privileged ? 1 : 0, createdAt)
    return { name, password, createdAt, privileged }
  }

  private ensureRoomFor(did: string, name: string): void {
    if (this.stmts.exists.get(did, name)) throw new InvalidRequestError('App password name already in use')
    if ((this.stmts.count.get(did) as { n: number }).n >= MAX_PER_ACCOUNT) {
      throw new InvalidRequestError(`Too many app passwords (at most ${MAX_PER_ACCOUNT})`)
    }
  }

  list(did: string): AppPassword[] {
    const rows = this.stmts.list.all(did) as { name: string; created_at: string; privileged: number }[]
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, privileged: r.privileged === 1 }))
  }

  /** The app password `password` is, if any: one scrypt hash, whatever the account (or a DID with no account). */
  async match(did: string, password: string): Promise<{ name: string; privileged: boolean } | null> {
    const row = this.stmts.byHash.get(did, await hashAppPassword(did, password)) as
      | { name: string; privileged: number }
      | undefined
    return row ? { name: row.name, privileged: row.privileged === 1 } : null
  }

  /** Revoking deletes the row; its sessions go with it (foreign key cascade). */
  revoke(did: string, name: string): void {
    this.stmts.delete.run(did, name)
  }

  /** Revoke every app password of the account (deactivation through the OAuth account page, as the reference). */
  deleteAllFor(did: string): void {
    this.stmts.deleteAll.run(did)
  }
}
