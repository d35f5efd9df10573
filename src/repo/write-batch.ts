// The record paths one applyWrites batch touches, followed write by write: what each held before the batch, what it
// holds now, and which write put it there. Each write is checked against `current` (the state the writes before it
// left); once the batch is through, `net()` folds it into at most one change per path for the commit.
import type { Cid } from '@atproto/lex-data'
import type { CommitOp } from '../protocol/events.ts'
import type { PreparedCreate, PreparedUpdate, PreparedWrite } from './prepare.ts'

type PathState = {
  collection: string
  rkey: string
  /** The record's CID before the batch (null: absent). */
  before: Cid | null
  /** Its CID after the writes so far (null: absent). */
  current: Cid | null
  /** The batch write that set `current`, when one did. */
  last?: PreparedCreate | PreparedUpdate
}

/**
 * One path's net change: the #commit op, and the write whose record and blobs it ends with (none for a delete).
 * Shapes: create {cid} · update {cid, prev: CID before the batch} · delete {cid: null, prev: CID before the batch}.
 */
export type NetChange = { uri: string; collection: string; rkey: string; op: CommitOp; write?: PreparedCreate | PreparedUpdate }

export class WriteBatch {
  private readonly paths = new Map<string, PathState>()
  private readonly lookup: (collection: string, rkey: string) => Cid | null
  /** Whether any write changed a record (an identical put does not). */
  changed = false
  /** Blobs of batch writes that a later write in the batch replaced or deleted: never linked, maybe orphans now. */
  readonly droppedBlobs: string[] = []

  /** `lookup`: the record's CID in the repo before the batch. */
  constructor(lookup: (collection: string, rkey: string) => Cid | null) {
    this.lookup = lookup
  }

  /** The record's CID as the writes before this one left it (null: absent). */
  current(w: PreparedWrite): Cid | null {
    return this.state(w).current
  }

  /** Apply a delete (the caller has checked that the record exists). */
  delete(w: PreparedWrite): void {
    const s = this.state(w)
    this.drop(s)
    s.current = null
    s.last = undefined
    this.changed = true
  }

  /** Apply a create or update; writing the CID the record already has changes nothing. */
  put(w: PreparedCreate | PreparedUpdate): void {
    const s = this.state(w)
    if (s.current?.equals(w.cid)) return
    this.drop(s)
    s.current = w.cid
    s.last = w
    this.changed = true
  }

  /**
   * The batch as one change per path, in the order the paths were first written; paths that end as they began are
   * left out. Net ops rather than one op per write, because a path must appear once in a #commit: relays (indigo's
   * NormalizeOps) refuse duplicate paths before inverting ops onto prevData, and @atproto/sync checks every op
   * against the new tree, so a "create" of a record the same batch deleted again cannot verify.
   */
  net(): NetChange[] {
    const changes: NetChange[] = []
    for (const [uri, s] of this.paths) {
      const { collection, rkey } = s
      const path = `${collection}/${rkey}`
      if (s.current === null) {
        if (s.before) changes.push({ uri, collection, rkey, op: { action: 'delete', path, cid: null, prev: s.before } })
      } else if (!s.before?.equals(s.current)) {
        // `last` is set: `current` differs from `before`, so a write of this batch set it.
        const write = s.last!
        const op: CommitOp = s.before ? { action: 'update', path, cid: s.current, prev: s.before } : { action: 'create', path, cid: s.current }
        changes.push({ uri, collection, rkey, op, write })
      }
    }
    return changes
  }

  private state(w: PreparedWrite): PathState {
    let s = this.paths.get(w.uri)
    if (!s) {
      const before = this.lookup(w.collection, w.rkey)
      s = { collection: w.collection, rkey: w.rkey, before, current: before }
      this.paths.set(w.uri, s)
    }
    return s
  }

  private drop(s: PathState): void {
    if (s.last) this.droppedBlobs.push(...s.last.blobs.map((b) => b.cid.toString()))
  }
}
