// One pino logger for the process. JSON lines (one object each, for log collectors) unless `pretty`: then
// pino-pretty's human-readable lines, for someone watching a terminal (main.ts asks for it when stdout is a TTY).
import { pino, type DestinationStream, type Logger } from 'pino'
import { createRequire } from 'node:module'

// pino-pretty (CommonJS) is required only when pretty lines are asked for: a server under docker, systemd or the
// benchmark writes JSON and need not load it at startup. A type-only import keeps its types.
const require = createRequire(import.meta.url)
type PinoPrettyModule = typeof import('pino-pretty')

export type { Logger }

export type LoggerOptions = {
  /** Human-readable lines instead of JSON. */
  pretty?: boolean
  /** Where lines go; stdout unless given (tests pass a stream they read). */
  destination?: DestinationStream
}

/** A logger at `level` (a pino level name, or `silent`). */
export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const options = { level, base: { service: 'aurora-locus' } }
  if (opts.pretty) {
    const { PinoPretty } = require('pino-pretty') as PinoPrettyModule
    const pretty = PinoPretty({
      destination: opts.destination ?? 1,
      // Synchronous like pino's own stdout: the last lines before an exit are not lost.
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service',
    })
    return pino(options, pretty)
  }
  return opts.destination ? pino(options, opts.destination) : pino(options)
}
