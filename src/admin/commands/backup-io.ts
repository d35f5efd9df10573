import type { CommandIo } from '../../backup/commands.ts'
import type { CommandContext } from '../command.ts'

/**
 * The backup commands' lines through the admin tool's output. From here on Ctrl-C or SIGTERM stops the running backup
 * cleanly (its partial folder removed) instead of killing it mid-write.
 */
export function backupIo(ctx: CommandContext): CommandIo {
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  process.once('SIGTERM', () => stop.abort())
  return { out: (l) => ctx.out.line(l), err: (l) => ctx.out.fail(l), config: ctx.config, signal: stop.signal }
}
