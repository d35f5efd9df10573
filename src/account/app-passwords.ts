// App passwords: named, revocable logins for third-party apps. Their hash is salted with the account's DID, so a
// login finds the matching row with one lookup instead of trying every stored hash.
import { scryptSync } from 'node:crypto'
import type { Db } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'
import { generateAppPassword } from './passwords.ts'

export type AppPassword = { name: string; createdAt: string; privileged: boolean }

const MAX_PER_ACCOUNT = 50

function hashAppPassword(did: string, password: string): string {
  return scryptSync(password, did, 32).toString('hex')
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
    }
  }

  create(did: string, name: string, privileged: boolean): AppPassword & { password: string } {
    if (this.stmts.exists.get(did, name)) throw new InvalidRequestError('App password name already in use')
    if ((this.stmts.count.get(did) as { n: number }).n >= MAX_PER_ACCOUNT) {
      throw new InvalidRequestError(`Too many app passwords (at most ${MAX_PER_ACCOUNT})`)
    }
    const password = generateAppPassword()
    const createdAt = new Date().toISOString()
    this.stmts.insert.run(did, name, hashAppPassword(did, password), privileged ? 1 : 0, createdAt)
    return { name, password, createdAt, privileged }
  }

  list(did: string): AppPassword[] {
    const rows = this.stmts.list.all(did) as { name: string; created_at: string; privileged: number }[]
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, privileged: r.privileged === 1 }))
  }

  /** The app password `password` is, if any. */
  match(did: string, password: string): { name: string; privileged: boolean } | null {
    const row = this.stmts.byHash.get(did, hashAppPassword(did, password)) as
      | { name: string; privileged: number }
      | undefined
    return row ? { name: row.name, privileged: row.privileged === 1 } : null
  }

  /** Revoking deletes the row; its sessions go with it (foreign key cascade). */
  revoke(did: string, name: string): void {
    this.stmts.delete.run(did, name)
  }
}
