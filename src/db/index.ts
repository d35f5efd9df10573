// Opens the one SQLite database with the pragmas the design relies on, and applies migrations.
import { closeSync, openSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { mkdirPrivate, PRIVATE_FILE_MODE, tightenFile } from '../util/private-fs.ts'
import { migrate } from './migrate.ts'

export type Db = Database.Database

export function openDatabase(file: string): Db {
  // It holds every repo signing key: the folder 0700, the file 0600 before SQLite opens it, because SQLite creates
  // the -wal and -shm files with the database file's mode. Files from older versions (0644) are tightened.
  mkdirPrivate(path.dirname(file))
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE))
  for (const f of [file, `${file}-wal`, `${file}-shm`]) tightenFile(f)
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  // FULL: an acknowledged write survives power loss, not only a process crash.
  db.pragma('synchronous = FULL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  try {
    migrate(db)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}
