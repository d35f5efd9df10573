// What can go wrong with a backup or a restore, by who must act: the destination (disk full, not writable), the source
// (no database where the data directory should hold one), the backup itself (incomplete or corrupt), the restore
// target (not empty), or a shutdown that stopped the work.
export type BackupErrorKind = 'destination' | 'source' | 'invalidBackup' | 'notEmpty' | 'aborted'

export class BackupError extends Error {
  readonly kind: BackupErrorKind

  constructor(kind: BackupErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.kind = kind
  }
}

/** Errors of writing files that are the destination's (full, read-only, not a folder), not the source's. */
export const WRITE_ERROR_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST'])

/** The errno or SQLite code of a failed file operation, if it has one. */
function codeOf(err: unknown): string | undefined {
  return (err as { code?: unknown } | null)?.code as string | undefined
}

/**
 * A failure writing under `dest`, said in the operator's words: full, not writable, not a directory; anything else
 * keeps its own message. Always kind 'destination'.
 */
export function destinationError(dest: string, err: unknown): BackupError {
  if (err instanceof BackupError) return err
  const code = codeOf(err)
  const detail = (err as Error)?.message ?? String(err)
  const why =
    code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL'
      ? 'is full (no space left for the backup)'
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN'
        ? 'is not writable'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'is not a directory'
          : 'could not be written'
  return new BackupError('destination', `backup destination ${dest} ${why}: ${detail}`, { cause: err })
}
