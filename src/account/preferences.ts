// Private account preferences (app.bsky.actor.getPreferences/putPreferences), as the reference PDS keeps them: a list
// per account, replaced whole within one namespace on put, read back in the order it was written. Some preferences are
// for full logins only (an app password neither sees nor sets them), and some are derived on read, never stored.
import type { Db } from '../db/index.ts'
import { ForbiddenError, InvalidRequestError } from '../errors.ts'

export type Preference = { $type: string; [key: string]: unknown }

/** Who asks: `fullAccess` is a real login (not an app password, privileged or not), as the reference's isAccessFull. */
export type PreferenceAccess = { fullAccess: boolean }

/** The only namespace the API reads and writes. */
export const BSKY_NAMESPACE = 'app.bsky'

const PERSONAL_DETAILS = 'app.bsky.actor.defs#personalDetailsPref'
const DECLARED_AGE = 'app.bsky.actor.defs#declaredAgePref'

/** The reference's rule: the namespace itself or anything under it (`app.bsky.…`), compared on the $type. */
export function inNamespace(namespace: string, type: string): boolean {
  return type === namespace || type.startsWith(`${namespace}.`)
}

/** Readable and writable by full logins only: the birth date. */
function fullAccessOnly(type: string): boolean {
  return type === PERSONAL_DETAILS
}

function allowed(type: string, access: PreferenceAccess): boolean {
  return access.fullAccess || !fullAccessOnly(type)
}

/** Computed from the birth date on read; a put may send it back, but it is never stored. */
function readOnly(type: string): boolean {
  return type === DECLARED_AGE
}

/** Whole years since `birthDate` (any date string Date parses), today. */
export function ageFrom(birthDate: string, today = new Date()): number {
  const born = new Date(birthDate)
  let age = today.getFullYear() - born.getFullYear()
  const months = today.getMonth() - born.getMonth()
  if (months < 0 || (months === 0 && today.getDate() < born.getDate())) age -= 1
  return age
}

export class PreferenceService {
  private readonly db: Db
  private readonly stmts

  constructor(db: Db) {
    this.db = db
    this.stmts = {
      list: db.prepare('SELECT id, name, value_json FROM preference WHERE did = ? ORDER BY id'),
      delete: db.prepare('DELETE FROM preference WHERE id = ?'),
      insert: db.prepare('INSERT INTO preference (did, name, value_json) VALUES (?, ?, ?)'),
    }
  }

  private rows(did: string) {
    return this.stmts.list.all(did) as { id: number; name: string; value_json: string }[]
  }

  /** The account's preferences in `namespace`, in stored order, plus the derived declaredAgePref; private ones only for full logins. */
  get(did: string, namespace: string, access: PreferenceAccess): Preference[] {
    const prefs = this.rows(did)
      .filter((row) => inNamespace(namespace, row.name))
      .map((row) => JSON.parse(row.value_json) as Preference)
    const details = prefs.find((p) => p.$type === PERSONAL_DETAILS)
    if (typeof details?.birthDate === 'string') {
      const age = ageFrom(details.birthDate)
      prefs.push({ $type: DECLARED_AGE, isOverAge13: age >= 13, isOverAge16: age >= 16, isOverAge18: age >= 18 })
    }
    return prefs.filter((p) => allowed(p.$type, access))
  }

  /**
   * Replace the account's preferences in `namespace` with `prefs` (already lexicon-valid), all or nothing. Private
   * preferences the caller may not see are kept as they are; read-only ones are dropped.
   */
  put(did: string, namespace: string, prefs: readonly Preference[], access: PreferenceAccess): void {
    if (!prefs.every((p) => inNamespace(namespace, p.$type))) {
      throw new InvalidRequestError(`Some preferences are not in the ${namespace} namespace`)
    }
    const forbidden = prefs.filter((p) => !allowed(p.$type, access))
    if (forbidden.length > 0) {
      throw new InvalidRequestError(
        `Do not have authorization to set preferences: ${forbidden.map((p) => p.$type).join(', ')}`,
      )
    }
    try {
      this.db.transaction(() => {
        for (const row of this.rows(did)) {
          if (inNamespace(namespace, row.name) && allowed(row.name, access)) this.stmts.delete.run(row.id)
        }
        for (const pref of prefs) {
          if (!readOnly(pref.$type)) this.stmts.insert.run(did, pref.$type, JSON.stringify(pref))
        }
      })()
    } catch (err) {
      // The account was deleted after the request's credentials were checked: the reference's 403, nothing stored.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new ForbiddenError('Account not found', 'AccountNotFound')
      }
      throw err
    }
  }
}
