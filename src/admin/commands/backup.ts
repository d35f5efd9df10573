import { CliError } from '../../cli/errors.ts'
import { backupCommand } from '../../backup/commands.ts'
import type { Command } from '../command.ts'
import { backupIo } from './backup-io.ts'

/**
 * A backup of the live server (src/backup): SQLite's online backup of the database, the blobs it references, a
 * manifest; safe next to the running server. Exit codes as restore's (src/backup/commands.ts EXIT).
 */
export const backup: Command = {
  name: 'backup',
  args: '<destination folder>',
  summary: 'write a new aurora-backup-<time> folder there while the server keeps running',
  options: {
    'data-dir': { type: 'string', value: 'dir', description: 'the data directory (default: PDS_DATA_DIRECTORY; blobs on S3 only without it)' },
  },
  arity: [1, 1],
  run: async (ctx, [destination], options) => {
    const code = await backupCommand({ destination, dataDir: options['data-dir'] as string | undefined }, backupIo(ctx))
    if (code !== 0) throw new CliError('backup failed (see above)', code)
  },
}
