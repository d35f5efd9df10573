// The repo CAR exports in progress (getRepo, getCheckout): a cap on how many stream at once, and which repos are
// being exported, so that commits to those repos keep the blocks they remove aside until the exports end (retired
// blocks, see src/repo/sql-storage.ts and src/repo/car-stream.ts).
import type { Readable } from 'node:stream'
import { NotEnoughResourcesError } from '../errors.ts'
import type { RepoBlockStatements } from './sql-storage.ts'

export type RepoExportLimits = {
  /** Exports streaming at once; 0 = no cap. */
  maxConcurrent: number
  /** An export whose client takes nothing for this long (ms) is cut off. */
  idleMs: number
}

export const defaultExportLimits: RepoExportLimits = { maxConcurrent: 16, idleMs: 60_000 }

export class RepoExports {
  readonly limits: RepoExportLimits
  private readonly stmts: RepoBlockStatements
  private readonly perDid = new Map<string, number>()
  private total = 0
  private readonly streams = new Set<Readable>()

  constructor(stmts: RepoBlockStatements, limits: RepoExportLimits) {
    this.stmts = stmts
    this.limits = limits
  }

  /** Exports streaming now. */
  get active(): number {
    return this.total
  }

  /** Whether a commit to `did` must retire the blocks it removes. */
  isExporting(did: string): boolean {
    return this.perDid.has(did)
  }

  /**
   * Take a slot for an export of `did`. Call synchronously before reading the root the export will be pinned to, so
   * that every later commit sees it. Returns the release (idempotent): the last export of a repo to end drops its
   * retired blocks. Throws NotEnoughResources (503) when `maxConcurrent` exports are running.
   */
  begin(did: string): () => void {
    const max = this.limits.maxConcurrent
    if (max > 0 && this.total >= max) {
      throw new NotEnoughResourcesError(`Too many repo exports in progress (at most ${max}); try again later`)
    }
    this.total += 1
    this.perDid.set(did, (this.perDid.get(did) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.total -= 1
      const left = this.perDid.get(did)! - 1
      if (left > 0) {
        this.perDid.set(did, left)
      } else {
        this.perDid.delete(did)
        this.stmts.purgeRetired.run(did)
      }
    }
  }

  /** Keep `stream` (an export's body) until it closes, so that `abortAll` can cut it off. */
  track(stream: Readable): void {
    this.streams.add(stream)
    stream.once('close', () => this.streams.delete(stream))
  }

  /** Destroy every export still streaming with `err`: at shutdown, a client that stopped reading must not hold it up. */
  abortAll(err: Error): void {
    for (const stream of this.streams) stream.destroy(err)
  }
}
