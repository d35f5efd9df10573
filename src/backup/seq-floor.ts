// The firehose never goes backwards, not even across a restore. A relay keeps the highest seq it has seen from this
// host and ignores events at or below it, so the first seq a restored server emits must be above every seq the OLD
// server emitted after the snapshot; those events are not in the backup, and the old server is gone, so they are
// bounded instead of counted:
//
//   next seq  >  S + R × (T_restore − T_snapshot + SKEW)
//
// - S: the snapshot's last assigned seq (AUTOINCREMENT's counter, so events pruned since count too). Every event the
//   old server emitted after the snapshot has a seq above S, and no two share one: seqs step by one per event.
// - T_snapshot: when the database copy completed (the manifest's `createdAt`, the old machine's clock). The old
//   server emitted those events between T_snapshot and the moment it stopped, which is before T_restore: the
//   restore drill stops the old server first (and a dead one emits nothing).
// - R = 1,000,000 events per second: a bound on what one server process can sequence at all, not on its workload.
//   Each event is a DAG-CBOR encoding plus an INSERT into a table with two indexes, on the one SQLite connection of a
//   single-threaded process, and every event comes from a request or an operator action (at most four events each:
//   createAccount). Measured, a write costs about 8 ms of server CPU and the server acknowledges ~130 writes/s
//   (README "Speed"); even a request that does nothing else costs tens of microseconds. R is thousands of times
//   what this server has ever reached, and beyond what SQLite inserts per second on one connection.
// - SKEW = 1 hour: the restoring machine's clock may be behind the old one. A clock behind by more than that is
//   refused (the restore says so) rather than trusted.
//
// The price of the margin is only a large jump in numbers (about 3.6 billion plus a million per second since the
// snapshot): seqs are 64-bit at every relay, and a JavaScript number stays exact up to 9 × 10^15, centuries away.
import { BackupError } from './errors.ts'

/** R: an upper bound on the events per second any server process can sequence. */
export const MAX_EVENTS_PER_SECOND = 1_000_000
/** SKEW, ms: how far behind the backup machine's clock the restoring machine's may be. */
export const MAX_CLOCK_SKEW_MS = 60 * 60 * 1000

/**
 * The seq a restored log must skip to: every event sequenced after the restore has a greater seq. `snapshotSeq`: the
 * manifest's last assigned seq; `snapshotAt`: the manifest's ISO time; `now`: epoch ms. Throws BackupError
 * (invalidBackup) when this machine's clock is more than MAX_CLOCK_SKEW_MS behind the snapshot's time.
 */
export function seqFloorAfterRestore(snapshotSeq: number, snapshotAt: string, now: number): number {
  const taken = Date.parse(snapshotAt)
  if (!Number.isFinite(taken)) throw new BackupError('invalidBackup', `the manifest's time is not a date: ${snapshotAt}`)
  if (now + MAX_CLOCK_SKEW_MS < taken) {
    throw new BackupError(
      'invalidBackup',
      `this machine's clock (${new Date(now).toISOString()}) is more than an hour behind the backup's time ` +
        `(${snapshotAt}); set the clock right (NTP) and restore again: the firehose seq jump depends on it`,
    )
  }
  const elapsedMs = Math.max(0, now - taken) + MAX_CLOCK_SKEW_MS
  const floor = snapshotSeq + Math.ceil((elapsedMs / 1000) * MAX_EVENTS_PER_SECOND)
  if (!Number.isSafeInteger(floor)) throw new BackupError('invalidBackup', `the seq jump overflows: ${floor}`)
  return floor
}
