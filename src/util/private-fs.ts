// Files only this server's user may read: the data directory holds repo signing keys (pds.sqlite), generated secrets
// and not-yet-public uploads. New folders are 0700 and new files 0600, whatever the umask says; existing ones made by
// older versions (0755/0644) are tightened at startup.
import { chmodSync, mkdirSync } from 'node:fs'

export const PRIVATE_DIR_MODE = 0o700
export const PRIVATE_FILE_MODE = 0o600

/** `mkdir -p` with mode 0700 for what it creates; `dir` itself is tightened to 0700 if it already existed. */
export function mkdirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  tighten(dir, PRIVATE_DIR_MODE)
}

/** Tighten an existing file to 0600; a missing one is fine (e.g. no -wal file yet). */
export function tightenFile(file: string): void {
  tighten(file, PRIVATE_FILE_MODE)
}

function tighten(target: string, mode: number): void {
  try {
    chmodSync(target, mode)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // ENOENT: nothing to protect. EPERM: someone else owns it (a mount prepared by root, say); then it is theirs to
    // protect, and refusing to start would break a setup that works.
    if (code !== 'ENOENT' && code !== 'EPERM') throw err
  }
}
