// Background pruning of the event log: events older than the retention window are deleted in small batches on an
// unref'd timer. Seqs are never reused (the table is AUTOINCREMENT), so pruning never confuses a cursor.
import type { Logger } from '../logger.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'

const BATCH = 1000

export class Retention {
  readonly retentionMs: number
  private readonly sequencer: Sequencer
  private readonly logger: Logger
  private readonly onPruned: (count: number) => void
  private timer: NodeJS.Timeout | undefined
  private running: Promise<number> | undefined
  private stopped = false

  constructor(deps: { sequencer: Sequencer; logger: Logger; retentionHours: number; onPruned: (count: number) => void }) {
    this.sequencer = deps.sequencer
    this.logger = deps.logger
    this.retentionMs = deps.retentionHours * 3_600_000
    this.onPruned = deps.onPruned
  }

  /** Events sequenced before this ISO time are outside the window. */
  cutoff(now = Date.now()): string {
    return new Date(now - this.retentionMs).toISOString()
  }

  /** Prune now, then every `intervalMs` (default: a tenth of the window, between 1 s and 10 min). */
  start(intervalMs = Math.min(10 * 60_000, Math.max(1000, this.retentionMs / 10))): void {
    clearInterval(this.timer)
    this.stopped = false
    const run = () => void this.prune().catch(() => {})
    this.timer = setInterval(run, intervalMs)
    this.timer.unref()
    setImmediate(run).unref()
  }

  /** Stop the timer; resolves once a prune in progress has finished its current batch. */
  stop(): Promise<unknown> {
    this.stopped = true
    clearInterval(this.timer)
    this.timer = undefined
    return this.running ?? Promise.resolve()
  }

  /** Delete everything outside the window, a batch per event-loop turn. Resolves with the number deleted. */
  prune(): Promise<number> {
    this.running ??= this.pruneBatches().finally(() => (this.running = undefined))
    return this.running
  }

  private async pruneBatches(): Promise<number> {
    const cutoff = this.cutoff()
    let total = 0
    try {
      while (!this.stopped) {
        const n = this.sequencer.pruneBefore(cutoff, BATCH)
        total += n
        if (n < BATCH) break
        await new Promise((resolve) => setImmediate(resolve))
      }
    } catch (err) {
      this.logger.warn({ err }, 'firehose: pruning the event log failed; will retry')
    }
    if (total > 0) {
      this.logger.info({ pruned: total, before: cutoff }, 'firehose: pruned old events')
      this.onPruned(total)
    }
    return total
  }
}
