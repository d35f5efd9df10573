// Synchronous walks over a stored repo's commit and MST, reading one block at a time. @atproto/repo's MST is async
// and loads whole layers; these read node by node so that a walk is atomic on the main connection (no await between
// reads) and needs memory only for the path being walked.
import { decode as cborDecode } from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'

export type Block = { cid: CID; bytes: Uint8Array }
/** Returns a block's bytes or throws: a stored repo missing a block is corrupt, not a client error. */
export type BlockGetter = (cid: CID) => Uint8Array

/** A commit or MST node that is not what the repo format says (a stored repo never has one; an imported CAR may). */
export class MalformedRepoError extends Error {}

type Entry = { p: number; k: Uint8Array; v: CID; t: CID | null }
type NodeData = { l: CID | null; e: Entry[] }

export function decodeCommit(bytes: Uint8Array): { did: string; rev: string; data: CID } {
  const commit = cborDecode(bytes) as { did?: unknown; rev?: unknown; data?: unknown }
  const data = CID.asCID(commit.data)
  if (typeof commit.did !== 'string' || typeof commit.rev !== 'string' || !data) throw new Error('malformed commit block')
  return { did: commit.did, rev: commit.rev, data }
}

function decodeNode(bytes: Uint8Array): NodeData {
  let node: NodeData
  try {
    node = cborDecode(bytes) as NodeData
  } catch {
    throw new MalformedRepoError('MST node is not DAG-CBOR')
  }
  if (!node || !Array.isArray(node.e) || (node.l !== null && !CID.asCID(node.l))) {
    throw new MalformedRepoError('malformed MST node')
  }
  return node
}

/** Every block of the repo under `commitCid`: the commit, then each MST node followed by its subtrees and records in key order. */
export function* fullRepoBlocks(get: BlockGetter, commitCid: CID): Generator<Block> {
  const commitBytes = get(commitCid)
  yield { cid: commitCid, bytes: commitBytes }
  for (const { cid, bytes } of walkTree(get, decodeCommit(commitBytes).data)) yield { cid, bytes }
}

/** A block of the tree; `key` (collection/rkey) marks a record, absent on MST nodes. */
export type TreeBlock = Block & { key?: string }

/**
 * A layer can be at most 128 (a SHA-256 has 256 leading zero bits at most, two per layer), so a deeper tree is
 * malformed: this bounds the walk's recursion whatever a CAR claims.
 */
const MAX_TREE_DEPTH = 129

/**
 * The MST under `dataCid` in pre-order: each node, its left subtree, then each entry's record (with its full key) and
 * right subtree, so records come out in key order. Throws on a malformed node, keys not strictly increasing (a
 * valid tree's in-order walk is sorted, which also rules out a subtree reached twice), or a tree deeper than any
 * real one. Missing blocks are whatever `get` throws.
 */
export function* walkTree(get: BlockGetter, dataCid: CID): Generator<TreeBlock> {
  const last = { key: null as Buffer | null }
  yield* walkNode(get, dataCid, 0, last)
}

function* walkNode(get: BlockGetter, cid: CID, depth: number, last: { key: Buffer | null }): Generator<TreeBlock> {
  if (depth >= MAX_TREE_DEPTH) throw new MalformedRepoError('MST deeper than any valid tree')
  const bytes = get(cid)
  yield { cid, bytes }
  const node = decodeNode(bytes)
  if (node.l) yield* walkNode(get, node.l, depth + 1, last)
  let prevKey: Buffer = Buffer.alloc(0)
  for (const entry of node.e) {
    const key = entryKey(entry, prevKey)
    if (last.key && Buffer.compare(key, last.key) <= 0) throw new MalformedRepoError('MST keys out of order')
    last.key = prevKey = key
    yield { cid: entry.v, bytes: get(entry.v), key: key.toString('utf8') }
    if (entry.t) yield* walkNode(get, entry.t, depth + 1, last)
  }
}

/** An entry's full key: `p` bytes of the previous entry's key, then its own suffix `k`. */
function entryKey(entry: Entry, prevKey: Buffer): Buffer {
  if (!Number.isInteger(entry.p) || entry.p < 0 || entry.p > prevKey.length || !(entry.k instanceof Uint8Array)) {
    throw new MalformedRepoError('malformed MST entry')
  }
  if (!CID.asCID(entry.v) || (entry.t !== null && !CID.asCID(entry.t))) throw new MalformedRepoError('malformed MST entry')
  return Buffer.concat([prevKey.subarray(0, entry.p), entry.k])
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
    let prevKey: Buffer = Buffer.alloc(0)
    let below: CID | null = node.l
    next = null
    for (const entry of node.e) {
      const full = entryKey(entry, prevKey)
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
