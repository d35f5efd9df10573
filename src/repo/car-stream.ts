// Whole repos as streamed CAR v1 (small CARs are `carFile` in src/protocol/car.ts), read from the main connection a
// chunk at a time, only as fast as the client takes them, with no read transaction open between chunks: a slow or
// stalled client pins no snapshot, so the WAL keeps checkpointing and memory stays flat whatever the repo size.
//
// Consistency without a snapshot: an export is pinned to the commit that was current when it started.
// - It registers with RepoExports and reads the root in the same synchronous step, so every later commit to the repo
//   knows an export is running. Blocks are content-addressed and the current tree's blocks are always stored, so
//   at that moment every block under the pinned root is in repo_block.
// - A block leaves repo_block only when a commit removes it; while an export of the repo runs, that commit first
//   copies it to temp.repo_block_retired (same transaction). So every block under the pinned root stays readable
//   from one table or the other until the last export of the repo ends, which drops the retired copies.
// - The full export walks the MST from the pinned root, reading each block by CID (live, else retired). The diff
//   (`since`) reads blocks with since < rev <= the pinned rev, live or retired, in keyset pages by (rev, cid).
// Deleting the account deletes its blocks outright; an export then running fails (the client gets a cut response).
//
// Memory per export is bounded whatever the repo's size: the chunk being built (CHUNK_BYTES, or one frame when a
// block is larger: records are at most 1 MB, imported blocks 2 MiB), the Readable's buffer (it asks for a chunk only
// below CHUNK_BYTES), the block held over for the next chunk, and the walk's path from the root: one decoded MST node
// per level, about log4(records) levels (7 for 10,000 records, 12 for ten million; at most 129 by construction); the
// diff holds one page instead (DIFF_PAGE_BYTES plus a block). A few hundred KiB for a repo of ordinary records.
import { EventEmitter } from 'node:events'
import { Readable } from 'node:stream'
import { CID } from 'multiformats/cid'
import { IdleTimeoutError } from '../errors.ts'
import { carHeader, frameLength, writeFrame, type CarBlock, type CarCid } from '../protocol/car.ts'
import { fullRepoBlocks, type LinkGetter } from '../protocol/mst-walk.ts'
import type { RepoExports } from './repo-exports.ts'
import { AFTER_EVERY_CID, type RepoBlockStatements } from './sql-storage.ts'

/** Frames are coalesced into chunks of at most this size (a larger frame is a chunk of its own): fewer, larger socket writes. */
const CHUNK_BYTES = 64 * 1024
/** A diff page: at most this many rows, and no more once their bytes reach DIFF_PAGE_BYTES. */
const DIFF_PAGE_ROWS = 256
const DIFF_PAGE_BYTES = 256 * 1024

export type CarStreamInfo = {
  did: string
  blocks: number
  complete: boolean
  /** Cut off because the client took nothing for the idle deadline. */
  timedOut: boolean
}

/** 'open' and 'close' of every streamed repo CAR: for tests and metrics. */
export const carStreams = new EventEmitter<{ open: [did: string]; close: [info: CarStreamInfo] }>()

/**
 * A CAR as a byte stream, pulled from a synchronous block iterator only as fast as the consumer reads. Destroying it
 * (client gone, or idle for `idleMs`: destroyed with IdleTimeoutError) stops the iterator and runs `release` once.
 */
export class CarStream extends Readable {
  private header: Uint8Array | null
  private readonly blocks: Iterator<CarBlock>
  /** A block taken from the iterator that did not fit in the last chunk: the next one starts with it. */
  private held: CarBlock | null = null
  private readonly release: () => void
  private readonly did: string
  private readonly idleMs: number
  private readonly readPage: (read: () => void) => void
  private sent = 0
  private complete = false
  private timedOut = false
  private progressAt = Date.now()
  private level = 0
  private idleTimer: NodeJS.Timeout | undefined

  /** `readPage`: runs the reads of one chunk, e.g. in a read transaction. */
  constructor(
    did: string,
    root: CID | null,
    blocks: Iterator<CarBlock>,
    opts: { release: () => void; idleMs: number; readPage?: (read: () => void) => void },
  ) {
    super({ highWaterMark: CHUNK_BYTES })
    this.did = did
    this.header = carHeader(root)
    this.blocks = blocks
    this.release = opts.release
    this.idleMs = opts.idleMs
    this.readPage = opts.readPage ?? ((read) => read())
    this.watchIdle(this.idleMs)
    carStreams.emit('open', did)
  }

  override _read(): void {
    this.progressAt = Date.now()
    // Frames are written straight into one chunk buffer; a block that does not fit waits for the next chunk, and
    // one larger than a chunk gets a buffer of its own.
    let chunk = Buffer.allocUnsafe(CHUNK_BYTES)
    let size = 0
    if (this.header) {
      size = this.header.length
      chunk.set(this.header)
      this.header = null
    }
    let done = false
    try {
      // One short read transaction per chunk: one lock on the WAL for its reads, released before the client is
      // waited for.
      this.readPage(() => {
        for (;;) {
          let block = this.held
          this.held = null
          if (!block) {
            const next = this.blocks.next()
            if (next.done) {
              done = true
              return
            }
            block = next.value
          }
          const length = frameLength(block)
          if (size + length > chunk.length) {
            if (size > 0) {
              this.held = block
              return
            }
            chunk = Buffer.allocUnsafe(length)
          }
          size = writeFrame(chunk, size, block)
          this.sent += 1
        }
      })
    } catch (err) {
      this.destroy(err as Error)
      return
    }
    if (size > 0) this.push(chunk.subarray(0, size))
    if (done) {
      this.complete = true
      this.push(null)
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    clearTimeout(this.idleTimer)
    try {
      this.blocks.return?.()
      this.release()
    } finally {
      carStreams.emit('close', { did: this.did, blocks: this.sent, complete: this.complete, timedOut: this.timedOut })
      callback(err)
    }
  }

  // Progress is the consumer taking data: a pull (_read) or, once everything is read, its buffer going down. One
  // lazy timer per stream: progress only stamps a time, and the timer, when it fires, waits out what is left.
  private watchIdle(delay: number): void {
    this.idleTimer = setTimeout(() => {
      if (this.destroyed) return
      // The buffer grows only in _read, which stamps progress itself; here only its going down counts.
      if (this.readableLength < this.level) this.progressAt = Date.now()
      this.level = this.readableLength
      const idle = Date.now() - this.progressAt
      if (idle < this.idleMs) return this.watchIdle(this.idleMs - idle)
      this.timedOut = true
      this.destroy(new IdleTimeoutError(`The client read nothing of the repo export for ${Math.round(idle / 1000)} s`))
    }, delay)
    this.idleTimer.unref()
  }
}

export type RepoCar = { root: { cid: CID; rev: string }; stream: CarStream }

/**
 * Stream a repo as a CAR: the full repo (commit, MST nodes in pre-order, records), or with `since` every block stored
 * by a later commit, as the reference PDS answers a diff (in (rev, cid) order). Null when the repo has no root.
 * Throws NotEnoughResources when the export cap is reached.
 */
export function streamRepoCar(stmts: RepoBlockStatements, exports: RepoExports, did: string, since?: string): RepoCar | null {
  const release = exports.begin(did)
  try {
    const row = stmts.getRoot.get(did) as { cid: string; rev: string } | undefined
    if (!row) {
      release()
      return null
    }
    const root = { cid: CID.parse(row.cid), rev: row.rev }
    const blocks =
      since === undefined ? fullRepoBlocks(pinnedGetter(stmts, did), root.cid) : diffBlocks(stmts, did, since, root.rev)
    const readPage = stmts.readTransaction
    const stream = new CarStream(did, root.cid, blocks, { release, idleMs: exports.limits.idleMs, readPage })
    exports.track(stream)
    return { root, stream }
  } catch (err) {
    release()
    throw err
  }
}

/** A block of the pinned commit: still live, or retired by a commit since. */
function pinnedGetter(stmts: RepoBlockStatements, did: string): LinkGetter {
  return (cid) => {
    const key = cidKey(cid)
    const bytes = (stmts.getBlock.get(did, key) ?? stmts.getRetiredBlock.get(did, key)) as Uint8Array | undefined
    if (!bytes) throw new Error(`block ${key} missing from repo ${did}`)
    return bytes
  }
}

/** How repo_block names a CID: CID.toString, i.e. multibase base32 ('b', RFC 4648 lowercase, no padding) for v1. */
function cidKey(cid: CarCid): string {
  const bytes = cid.bytes
  if (bytes[0] !== 1) return CID.decode(bytes).toString()
  // Written as ASCII into one buffer and read back as one flat string: multiformats' encoder appends a character at
  // a time, which cost more than the SQLite lookup the key is for.
  const need = 1 + Math.ceil((bytes.length * 8) / 5)
  if (keyScratch.length < need) keyScratch = Buffer.alloc(need)
  const out = keyScratch
  out[0] = 0x62 // 'b'
  let o = 1
  let acc = 0
  let bits = 0
  for (let i = 0; i < bytes.length; i++) {
    acc = ((acc << 8) | bytes[i]) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[o++] = BASE32[(acc >> bits) & 31]
    }
  }
  if (bits > 0) out[o++] = BASE32[(acc << (5 - bits)) & 31]
  return out.toString('latin1', 0, o)
}
const BASE32 = Buffer.from('abcdefghijklmnopqrstuvwxyz234567', 'latin1')
let keyScratch = Buffer.alloc(64)

/** Blocks with since < rev <= until, a page per query; no statement stays open across a yield. */
function* diffBlocks(stmts: RepoBlockStatements, did: string, since: string, until: string): Generator<CarBlock> {
  let afterRev = since
  let afterCid = AFTER_EVERY_CID
  for (;;) {
    const page: CarBlock[] = []
    let bytes = 0
    const rows = stmts.blocksInRevRange.iterate({ did, until, afterRev, afterCid, limit: DIFF_PAGE_ROWS }) as
      IterableIterator<{ cid: string; rev: string; content: Uint8Array }>
    for (const row of rows) {
      page.push({ cid: CID.parse(row.cid), bytes: row.content })
      afterRev = row.rev
      afterCid = row.cid
      bytes += row.content.length
      if (bytes >= DIFF_PAGE_BYTES) break // leaving the loop resets the statement
    }
    if (page.length === 0) return
    yield* page
  }
}
