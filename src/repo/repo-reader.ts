// Point reads for the sync endpoints on the main connection. Each method reads synchronously from start to finish,
// so it sees one consistent repo state: no commit can land between its reads.
import { CID } from 'multiformats/cid'
import { carFile } from '../protocol/car.ts'
import { decodeCommit, pathToKey, type Block } from '../protocol/mst-walk.ts'
import type { RepoBlockStatements } from './sql-storage.ts'

/** A commit block with its CID and rev. */
export type CommitBlock = { cid: CID; rev: string; bytes: Uint8Array }

export class RepoReader {
  private readonly stmts: RepoBlockStatements

  constructor(stmts: RepoBlockStatements) {
    this.stmts = stmts
  }

  root(did: string): { cid: CID; rev: string } | null {
    const row = this.stmts.getRoot.get(did) as { cid: string; rev: string } | undefined
    return row ? { cid: CID.parse(row.cid), rev: row.rev } : null
  }

  block(did: string, cid: CID): Uint8Array | null {
    return (this.stmts.getBlock.get(did, cid.toString()) as Uint8Array | undefined) ?? null
  }

  private getter(did: string): (cid: CID) => Uint8Array {
    return (cid) => {
      const bytes = this.block(did, cid)
      if (!bytes) throw new Error(`block ${cid.toString()} missing from repo ${did}`)
      return bytes
    }
  }

  /** The current commit block, for #sync events. */
  commitBlock(did: string): CommitBlock | null {
    const root = this.root(did)
    return root ? { ...root, bytes: this.getter(did)(root.cid) } : null
  }

  /**
   * A CAR proving `collection/rkey` present or absent under the current commit: the commit, the MST path, and the
   * record block when it exists. Null when the repo has no root.
   */
  recordProof(did: string, collection: string, rkey: string): { car: Uint8Array; cid: CID | null } | null {
    const root = this.root(did)
    if (!root) return null
    const get = this.getter(did)
    const commitBytes = get(root.cid)
    const { nodes, value } = pathToKey(get, decodeCommit(commitBytes).data, `${collection}/${rkey}`)
    const blocks: Block[] = [{ cid: root.cid, bytes: commitBytes }, ...nodes]
    if (value) blocks.push({ cid: value, bytes: get(value) })
    return { car: carFile(root.cid, blocks), cid: value }
  }

  /** The stored blocks among `cids` (each once, in the order asked) and the CIDs this repo does not hold. */
  blocks(did: string, cids: readonly CID[]): { found: Block[]; missing: CID[] } {
    const found: Block[] = []
    const missing: CID[] = []
    const seen = new Set<string>()
    for (const cid of cids) {
      const key = cid.toString()
      if (seen.has(key)) continue
      seen.add(key)
      const bytes = this.block(did, cid)
      if (bytes) found.push({ cid, bytes })
      else missing.push(cid)
    }
    return { found, missing }
  }
}
