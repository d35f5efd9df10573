// The event log. Events are appended inside the same SQLite transaction as the change they describe; listeners (the
// firehose, the relay notifier) hear about new seqs only after that transaction has committed.
import { EventEmitter } from 'node:events'
import type { Db } from '../db/index.ts'
import { encodeFrame, type EventType } from '../protocol/frames.ts'

export type SeqRow = { seq: number; did: string; event_type: EventType; frame: Uint8Array; sequenced_at: string }

type GroupMember = { fn: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void }

export class Sequencer extends EventEmitter<{ events: [latestSeq: number] }> {
  private readonly db: Db
  private readonly stmts
  private depth = 0
  private appended = false
  /** Writes waiting for the next group commit (see `groupTransaction`). */
  private group: GroupMember[] = []

  constructor(db: Db) {
    super()
    this.setMaxListeners(0)
    this.db = db
    this.stmts = {
      ping: db.prepare('SELECT 1'),
      lastAssigned: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'repo_seq'`).pluck(),
      // sqlite_sequence is where AUTOINCREMENT keeps the highest seq ever used; it has no row before the first event.
      raiseLast: db.prepare(`UPDATE sqlite_sequence SET seq = ? WHERE name = 'repo_seq' AND seq < ?`),
      seedLast: db.prepare(
        `INSERT INTO sqlite_sequence (name, seq) SELECT 'repo_seq', ?
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'repo_seq')`,
      ),
      insert: db.prepare('INSERT INTO repo_seq (seq, did, event_type, frame, sequenced_at) VALUES (?, ?, ?, ?, ?)'),
      latest: db.prepare('SELECT max(seq) FROM repo_seq').pluck(),
      oldest: db.prepare('SELECT min(seq) FROM repo_seq').pluck(),
      range: db.prepare('SELECT seq, did, event_type, frame, sequenced_at FROM repo_seq WHERE seq > ? ORDER BY seq LIMIT ?'),
      deleteOf: db.prepare('DELETE FROM repo_seq WHERE did = ?'),
      firstSince: db.prepare('SELECT seq FROM repo_seq WHERE sequenced_at >= ? ORDER BY sequenced_at, seq LIMIT 1').pluck(),
      prune: db.prepare(
        'DELETE FROM repo_seq WHERE seq IN (SELECT seq FROM repo_seq WHERE sequenced_at < ? ORDER BY sequenced_at LIMIT ?)',
      ),
    }
  }

  /**
   * The database's write transaction: run `fn` in one transaction, in which it may append events, and tell listeners
   * about those events once it has committed. Nested calls join the outer transaction (better-sqlite3 turns them into
   * savepoints).
   */
  writeTransaction<T>(fn: () => T): T {
    return this.transact(fn, (latest) => this.emit('events', latest))
  }

  /** writeTransaction, telling `notify` (not the listeners) the newest seq when events were appended. */
  private transact<T>(fn: () => T, notify: (latestSeq: number) => void): T {
    this.depth += 1
    let result: T
    try {
      result = this.db.transaction(fn)()
    } catch (err) {
      if (this.depth === 1) this.appended = false
      throw err
    } finally {
      this.depth -= 1
    }
    if (this.depth === 0 && this.appended) {
      this.appended = false
      notify(this.latestSeq())
    }
    return result
  }

  /**
   * Group commit: run `fn` inside a write transaction shared with every other `groupTransaction` call made in the same
   * turn of the event loop, so that concurrent writers to different repos pay for one COMMIT, and with
   * synchronous=FULL one fsync, between them. Resolves with `fn`'s result only once that transaction has committed
   * (durable: acknowledge the write after this); rejects with `fn`'s error, its own changes rolled back alone (each
   * member runs in its own savepoint, so one failing write does not fail the others), or with the commit's error for
   * every member (also when a member's error made SQLite roll back the whole transaction). Listeners hear about the
   * group's events once, after the commit. Writes to one repo never share a group: the repo lock is held until this
   * resolves.
   */
  groupTransaction<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.group.push({ fn, resolve: resolve as (value: unknown) => void, reject })
      // setImmediate runs after the poll phase: every request whose commit was ready in this turn has joined.
      if (this.group.length === 1) setImmediate(() => this.commitGroup())
    })
  }

  private commitGroup(): void {
    const members = this.group
    this.group = []
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = []
    let latest: number | null = null
    try {
      this.transact(() => {
        for (const m of members) {
          try {
            // Nested: a savepoint, released into the group's transaction or rolled back alone.
            outcomes.push({ ok: true, value: this.writeTransaction(m.fn) })
          } catch (error) {
            outcomes.push({ ok: false, error })
            // SQLite rolled the whole transaction back (it may on SQLITE_FULL, IOERR, BUSY, NOMEM), the members before
            // this one with it, and the next would run in a transaction of its own (better-sqlite3 begins one when none
            // is open), committed yet failed with the group: the group fails here, as a whole.
            if (!this.db.inTransaction) throw error
          }
        }
      }, (seq) => (latest = seq))
    } catch (error) {
      for (const m of members) m.reject(error)
      return
    }
    members.forEach((m, i) => {
      const o = outcomes[i]
      if (o.ok) m.resolve(o.value)
      else m.reject(o.error)
    })
    // Listeners hear of the events in a microtask queued after the members' continuations: the firehose fans out on
    // the next tick after that, i.e. once the writers' answers are on their way, so no answer waits for a fan-out.
    if (latest !== null) {
      const seq = latest
      queueMicrotask(() => this.emit('events', seq))
    }
  }

  /** Append one event; only valid inside `writeTransaction`. The frame carries its seq and time, so it is encoded here. */
  append(did: string, type: EventType, body: Record<string, unknown>): number {
    if (this.depth === 0) throw new Error('Sequencer.append outside Sequencer.writeTransaction')
    const seq = this.lastAssignedSeq() + 1
    const time = new Date().toISOString()
    const frame = encodeFrame(`#${type}`, { ...body, seq, time })
    this.stmts.insert.run(seq, did, type, frame, time)
    this.appended = true
    return seq
  }

  /**
   * Make every later seq greater than `seq` (a no-op if one already is); only inside `writeTransaction`. A restore
   * uses it to start above whatever the old server may have emitted after the snapshot (src/backup/seq-floor.ts).
   */
  skipTo(seq: number): void {
    if (this.depth === 0) throw new Error('Sequencer.skipTo outside Sequencer.writeTransaction')
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be a safe non-negative integer: ${seq}`)
    this.stmts.seedLast.run(seq)
    this.stmts.raiseLast.run(seq, seq)
  }

  /** Throws unless the database answers (the `_health` check). */
  checkDatabase(): void {
    this.stmts.ping.get()
  }

  latestSeq(): number {
    return (this.stmts.latest.get() as number | null) ?? 0
  }

  oldestSeq(): number | null {
    return (this.stmts.oldest.get() as number | null) ?? null
  }

  /**
   * Events with seq > `after`, oldest first: at most `limit` of them, and no more once their frames reach `maxBytes`
   * (always at least one, whatever its size).
   */
  range(after: number, limit: number, maxBytes = Infinity): SeqRow[] {
    if (maxBytes === Infinity) return this.stmts.range.all(after, limit) as SeqRow[]
    // Stepping the cursor reads only the rows kept: a page of large frames is not loaded whole to be cut afterwards.
    const rows: SeqRow[] = []
    let bytes = 0
    for (const row of this.stmts.range.iterate(after, limit) as IterableIterator<SeqRow>) {
      rows.push(row)
      bytes += row.frame.byteLength
      if (bytes >= maxBytes) break // leaving the loop resets the statement
    }
    return rows
  }

  /** Drop an account's events from the log (account deletion, as the reference does). Seqs are never reused. */
  deleteEventsOf(did: string): void {
    this.stmts.deleteOf.run(did)
  }

  /** The highest seq ever assigned, even if that event has since been pruned (0 if none). */
  lastAssignedSeq(): number {
    return (this.stmts.lastAssigned.get() as number | undefined) ?? 0
  }

  /** The first event sequenced at or after `time` (ISO string), or null. */
  firstSeqSince(time: string): number | null {
    return (this.stmts.firstSince.get(time) as number | undefined) ?? null
  }

  /** Delete at most `limit` events sequenced before `time`; returns how many went. Seqs are never reused. */
  pruneBefore(time: string, limit: number): number {
    return this.stmts.prune.run(time, limit).changes
  }
}
