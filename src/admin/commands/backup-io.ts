import type { CommandIo } from '../../backup/commands.ts'
import { printJson, type CommandContext } from '../command.ts'

/**
 * The backup commands' lines through the admin tool's output; with `--json` the progress lines are left out and the
 * outcome is the one JSON document on stdout (failures stay lines on stderr). From here on Ctrl-C or SIGTERM stops the running backup
 * cleanly (its partial folder removed) instead of killing it mid-write.
 */
export function backupIo(ctx: CommandContext): CommandIo {
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  process.once('SIGTERM', () => stop.abort())
  return {
    out: ctx.json ? () => {} : (l) => ctx.out.line(l),
    err: (l) => ctx.out.fail(l),
    config: ctx.config,
    signal: stop.signal,
    result: ctx.json ? (value) => printJson(ctx, value) : undefined,
  }
}
