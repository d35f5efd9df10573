// Synchronous walks over a stored repo's commit and MST, reading one block at a time. @atproto/repo's MST is async
// and loads whole layers; these read node by node so that a walk is atomic on the main connection (no await between
// reads) and needs memory only for the path being walked.
import { decode as cborDecode } from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'

export type Block = { cid: CID; bytes: Uint8Array }
/** Returns a block's bytes or throws: a stored repo missing a block is corrupt, not a client error. */
export type BlockGetter = (cid: CID) => Uint8Array

type Entry = { p: number; k: Uint8Array; v: CID; t: CID | null }
type NodeData = { l: CID | null; e: Entry[] }

export function decodeCommit(bytes: Uint8Array): { did: string; rev: string; data: CID } {
  const commit = cborDecode(bytes) as { did?: unknown; rev?: unknown; data?: unknown }
  const data = CID.asCID(commit.data)
  if (typeof commit.did !== 'string' || typeof commit.rev !== 'string' || !data) throw new Error('malformed commit block')
  return { did: commit.did, rev: commit.rev, data }
}

function decodeNode(bytes: Uint8Array): NodeData {
  const node = cborDecode(bytes) as NodeData
  if (!node || !Array.isArray(node.e)) throw new Error('malformed MST node')
  return node
}

/** Every block of the repo under `commitCid`: the commit, then each MST node followed by its subtrees and records in key order. */
export function* fullRepoBlocks(get: BlockGetter, commitCid: CID): Generator<Block> {
  const commitBytes = get(commitCid)
  yield { cid: commitCid, bytes: commitBytes }
  yield* walkNode(get, decodeCommit(commitBytes).data)
}

function* walkNode(get: BlockGetter, cid: CID): Generator<Block> {
  const bytes = get(cid)
  yield { cid, bytes }
  const node = decodeNode(bytes)
  if (node.l) yield* walkNode(get, node.l)
  for (const entry of node.e) {
    yield { cid: entry.v, bytes: get(entry.v) }
    if (entry.t) yield* walkNode(get, entry.t)
  }
}

/**
 * The MST nodes from the root to where `key` is or would be, and the record's CID if it is there: exactly what proves
 * a record's presence or absence under a commit (the blocks @atproto/repo's `cidsForPath` names).
 */
export function pathToKey(get: BlockGetter, dataCid: CID, key: string): { nodes: Block[]; value: CID | null } {
  const target = Buffer.from(key, 'utf8')
  const nodes: Block[] = []
  let next: CID | null = dataCid
  while (next) {
    const bytes = get(next)
    nodes.push({ cid: next, bytes })
    const node = decodeNode(bytes)
    // Entries are sorted; each key shares a prefix of length p with the previous one.
    let prevKey = Buffer.alloc(0)
    let below: CID | null = node.l
    next = null
    for (const entry of node.e) {
      const full = Buffer.concat([prevKey.subarray(0, entry.p), entry.k])
      const cmp = Buffer.compare(full, target)
      if (cmp === 0) return { nodes, value: entry.v }
      if (cmp > 0) break
      below = entry.t
      prevKey = full
    }
    next = below
  }
  return { nodes, value: null }
}
