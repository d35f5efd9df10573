// Whole repos as streamed CAR v1 (small CARs are `carFile` in src/protocol/car.ts): read from a snapshot on a connection of their own, so memory stays flat whatever the repo size and concurrent
// writes (which delete replaced blocks) cannot tear the export.
import { EventEmitter } from 'node:events'
import { Readable } from 'node:stream'
import Database from 'better-sqlite3'
import { CID } from 'multiformats/cid'
import type { Db } from '../db/index.ts'
import { blockFrame, carHeader } from '../protocol/car.ts'
import { fullRepoBlocks, type Block } from '../protocol/mst-walk.ts'

/** Frames are coalesced into chunks of about this size: fewer, larger socket writes. */
const CHUNK_BYTES = 64 * 1024

export type CarStreamInfo = { did: string; blocks: number; complete: boolean }

/** 'open' and 'close' of every streamed repo CAR: for tests and metrics. */
export const carStreams = new EventEmitter<{ open: [did: string]; close: [info: CarStreamInfo] }>()

/**
 * A CAR as a byte stream, pulled from a synchronous block iterator only as fast as the consumer reads. Destroying it
 * (client gone) stops the iterator and runs `release` once.
 */
export class CarStream extends Readable {
  private header: Uint8Array | null
  private readonly blocks: Iterator<Block>
  private readonly release: () => void
  private readonly did: string
  private sent = 0
  private complete = false

  constructor(did: string, root: CID | null, blocks: Iterator<Block>, release: () => void) {
    super({ highWaterMark: CHUNK_BYTES })
    this.did = did
    this.header = carHeader(root)
    this.blocks = blocks
    this.release = release
    carStreams.emit('open', did)
  }

  override _read(): void {
    const parts: Uint8Array[] = []
    let size = 0
    if (this.header) {
      parts.push(this.header)
      size += this.header.length
      this.header = null
    }
    try {
      while (size < CHUNK_BYTES) {
        const next = this.blocks.next()
        if (next.done) {
          this.complete = true
          if (size > 0) this.push(Buffer.concat(parts, size))
          this.push(null)
          return
        }
        for (const part of blockFrame(next.value)) {
          parts.push(part)
          size += part.length
        }
        this.sent += 1
      }
    } catch (err) {
      this.destroy(err as Error)
      return
    }
    this.push(Buffer.concat(parts, size))
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    try {
      this.blocks.return?.()
      this.release()
    } finally {
      carStreams.emit('close', { did: this.did, blocks: this.sent, complete: this.complete })
      callback(err)
    }
  }
}

/**
 * A read transaction on its own read-only connection: everything read through it sees the database as of its first
 * read, while the main connection keeps committing.
 */
class Snapshot {
  readonly conn: Database.Database
  private readonly getBlockStmt

  constructor(file: string) {
    this.conn = new Database(file, { readonly: true, fileMustExist: true })
    try {
      this.conn.exec('BEGIN')
      this.getBlockStmt = this.conn.prepare('SELECT content FROM repo_block WHERE did = ? AND cid = ?').pluck()
    } catch (err) {
      this.conn.close()
      throw err
    }
  }

  root(did: string): { cid: CID; rev: string } | null {
    const row = this.conn.prepare('SELECT cid, rev FROM repo_root WHERE did = ?').get(did) as
      | { cid: string; rev: string }
      | undefined
    return row ? { cid: CID.parse(row.cid), rev: row.rev } : null
  }

  getter(did: string): (cid: CID) => Uint8Array {
    return (cid) => {
      const bytes = this.getBlockStmt.get(did, cid.toString()) as Uint8Array | undefined
      if (!bytes) throw new Error(`block ${cid.toString()} missing from repo ${did}`)
      return bytes
    }
  }

  /** Blocks written by commits after `since`, in (rev, cid) order, as the reference PDS answers a diff. */
  *blocksSince(did: string, since: string): Generator<Block> {
    const rows = this.conn
      .prepare('SELECT cid, content FROM repo_block WHERE did = ? AND rev > ? ORDER BY rev, cid')
      .iterate(did, since) as IterableIterator<{ cid: string; content: Uint8Array }>
    try {
      for (const row of rows) yield { cid: CID.parse(row.cid), bytes: row.content }
    } finally {
      rows.return?.()
    }
  }

  close(): void {
    // Closing the connection ends the read transaction.
    if (this.conn.open) this.conn.close()
  }
}

export type RepoCar = { root: { cid: CID; rev: string }; stream: CarStream }

/**
 * Stream a repo as a CAR: the full repo (commit, MST nodes in pre-order, records), or with `since` every block stored
 * by a later commit. Null when the repo has no root.
 */
export function streamRepoCar(db: Db, did: string, since?: string): RepoCar | null {
  if (db.memory) throw new Error('repo CAR streams need a file database (a second connection reads the snapshot)')
  const snapshot = new Snapshot(db.name)
  try {
    const root = snapshot.root(did)
    if (!root) {
      snapshot.close()
      return null
    }
    const blocks = since === undefined ? fullRepoBlocks(snapshot.getter(did), root.cid) : snapshot.blocksSince(did, since)
    return { root, stream: new CarStream(did, root.cid, blocks, () => snapshot.close()) }
  } catch (err) {
    snapshot.close()
    throw err
  }
}
