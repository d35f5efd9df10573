// A logger whose JSON lines a test reads: pino writes each line synchronously to a plain { write } destination, so a
// line is in `lines` by the time the response to the request that logged it arrives.
import { EventEmitter, once } from 'node:events'
import { createLogger, type Logger } from '../../src/logger.ts'

export type LogLine = Record<string, any>

export type LogCapture = {
  log: Logger
  lines: LogLine[]
  /** The first line from index `from` on matching `pred`, awaited (at most 10 s) for work that ends after a response. */
  awaitLine: (pred: (l: LogLine) => boolean, from?: number) => Promise<LogLine>
}

export function captureLog(level = 'info'): LogCapture {
  const lines: LogLine[] = []
  const logged = new EventEmitter()
  const log = createLogger(level, {
    destination: {
      write: (line: string) => {
        lines.push(JSON.parse(line))
        logged.emit('line')
      },
    },
  })
  const awaitLine = async (pred: (l: LogLine) => boolean, from = 0): Promise<LogLine> => {
    const signal = AbortSignal.timeout(10_000)
    for (;;) {
      const found = lines.slice(from).find(pred)
      if (found) return found
      await once(logged, 'line', { signal })
    }
  }
  return { log, lines, awaitLine }
}
