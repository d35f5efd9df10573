// Applies migrations/NNN_name.sql in order, each in its own transaction, recorded in schema_migration.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type Database from 'better-sqlite3'

const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../migrations')

type Migration = { version: number; name: string; sql: string }

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .map((f) => ({ version: Number(f.split('_')[0]), name: f, sql: readFileSync(path.join(dir, f), 'utf8') }))
    .sort((a, b) => a.version - b.version)
}

export class MigrationError extends Error {}

export function migrate(db: Database.Database, migrations = listMigrations()): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migration (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`)
  const applied = db.prepare('SELECT max(version) AS v FROM schema_migration').get() as { v: number | null }
  const current = applied.v ?? 0
  const latest = migrations.at(-1)?.version ?? 0
  if (current > latest) {
    throw new MigrationError(
      `database schema version ${current} is newer than this code knows (${latest}); ` +
        'run a newer Aurora Locus or restore a matching backup',
    )
  }
  const record = db.prepare('INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)')
  for (const m of migrations) {
    if (m.version <= current) continue
    db.transaction(() => {
      db.exec(m.sql)
      record.run(m.version, m.name, new Date().toISOString())
    })()
  }
}
