// Migrations apply once, in order, and a database newer than the code refuses to start.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { openDatabase } from '../src/db/index.ts'
import { listMigrations, MigrationError } from '../src/db/migrate.ts'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aurora-migrate-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

describe('migrations', () => {
  it('applies every migration once and records it', () => {
    const file = path.join(tmp, 'a.sqlite')
    const known = listMigrations()
    assert.ok(known.length >= 1)
    let db = openDatabase(file)
    const rows = () => db.prepare('SELECT version FROM schema_migration ORDER BY version').all() as { version: number }[]
    assert.deepEqual(rows().map((r) => r.version), known.map((m) => m.version))
    db.close()
    db = openDatabase(file) // second open: nothing re-applied (a re-run CREATE TABLE would throw)
    assert.equal(rows().length, known.length)
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1)
    assert.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL')
    db.close()
  })

  it('refuses a database newer than the code', () => {
    const file = path.join(tmp, 'b.sqlite')
    const db = openDatabase(file)
    db.prepare('INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)').run(9999, '9999_future.sql', 'now')
    db.close()
    assert.throws(() => openDatabase(file), (err: Error) => err instanceof MigrationError && /newer than this code/.test(err.message))
  })
})
