import { CliError } from '../../cli/errors.ts'
import { restoreCommand } from '../../backup/commands.ts'
import type { Command } from '../command.ts'
import { backupIo } from './backup-io.ts'

/** Fill an empty data directory from a backup, with the firehose seq jump (src/backup/restore.ts). Server stopped. */
export const restore: Command = {
  name: 'restore',
  args: '<backup folder> <empty data directory>',
  summary: 'with the server stopped: fill an empty data directory from a backup, then start the server on it',
  arity: [2, 2],
  run: async (ctx, [backup, dataDirectory]) => {
    const code = await restoreCommand({ backup, dataDirectory }, backupIo(ctx))
    if (code !== 0) throw new CliError('restore failed (see above)', code)
  },
}
