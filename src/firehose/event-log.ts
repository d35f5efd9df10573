// The firehose's reader of the event log. Subscribers ask for "the events after seq N"; the newest events are kept in
// a small cache refreshed once per batch of commits, so live fan-out reads SQLite once, not once per subscriber.
// Older pages (replay) come straight from the log. Frames are returned exactly as stored.
import type { SeqRow, Sequencer } from '../sequencer/sequencer.ts'

export type Page = {
  rows: SeqRow[]
  /** The log has been read through this seq: there is nothing between the last row (or `after`) and it. */
  through: number
}

export type EventLogLimits = { cacheEvents: number; cacheBytes: number; refreshPage: number }

export class EventLog {
  /** Newest seq known to be committed (from the sequencer's notifications). */
  head: number
  private readonly sequencer: Sequencer
  private readonly limits: EventLogLimits
  // The cache holds every event with base < seq <= covered, oldest first.
  private rows: SeqRow[] = []
  private bytes = 0
  private base: number
  private covered: number

  constructor(sequencer: Sequencer, limits: EventLogLimits) {
    this.sequencer = sequencer
    this.limits = limits
    this.head = sequencer.lastAssignedSeq()
    this.base = this.head
    this.covered = this.head
  }

  noteHead(seq: number): void {
    if (seq > this.head) this.head = seq
  }

  /** Load events up to `head` into the cache. Throws if the log cannot be read (the cache stays consistent). */
  refresh(): void {
    if (this.covered >= this.head) return
    if (this.head - this.covered > this.limits.cacheEvents) {
      // A burst larger than the cache: only its newest part is worth keeping.
      this.rows = []
      this.bytes = 0
      this.base = this.covered = this.head - this.limits.cacheEvents
    }
    const target = this.head
    while (this.covered < target) {
      const rows = this.sequencer.range(this.covered, this.limits.refreshPage)
      for (const row of rows) {
        this.rows.push(row)
        this.bytes += row.frame.byteLength
      }
      this.covered = rows.length < this.limits.refreshPage ? Math.max(target, rows.at(-1)?.seq ?? 0) : rows.at(-1)!.seq
      this.evict()
    }
  }

  /**
   * Events with seq > `after`, oldest first: up to `limit`, and no more once their frames reach `maxBytes` (at least
   * one). Throws if the log cannot be read.
   */
  page(after: number, limit: number, maxBytes = Infinity): Page {
    if (after >= this.base && after < this.covered) {
      const start = this.indexAfter(after)
      let end = start
      let bytes = 0
      while (end < this.rows.length && end - start < limit && bytes < maxBytes) bytes += this.rows[end++].frame.byteLength
      const rows = this.rows.slice(start, end)
      return { rows, through: rows.length ? rows.at(-1)!.seq : this.covered }
    }
    // Captured before reading: every event up to here is committed, so an empty page means none exist.
    const head = this.head
    const rows = this.sequencer.range(after, limit, maxBytes)
    return { rows, through: rows.length ? rows.at(-1)!.seq : Math.max(after, head) }
  }

  cacheStats(): { events: number; bytes: number } {
    return { events: this.rows.length, bytes: this.bytes }
  }

  private evict(): void {
    let drop = 0
    while (
      drop < this.rows.length &&
      (this.rows.length - drop > this.limits.cacheEvents || this.bytes > this.limits.cacheBytes)
    ) {
      this.bytes -= this.rows[drop].frame.byteLength
      this.base = this.rows[drop].seq
      drop += 1
    }
    if (drop) this.rows = this.rows.slice(drop)
  }

  // First cached row with seq > after (binary search; seqs increase).
  private indexAfter(after: number): number {
    let lo = 0
    let hi = this.rows.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.rows[mid].seq <= after) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
