// Synchronous walks over a stored repo's commit and MST, reading one block at a time. @atproto/repo's MST is async
// and loads whole layers; these read node by node so that a walk is atomic on the main connection (no await between
// reads) and needs memory only for the path being walked.
//
// The full walks (fullRepoBlocks, walkTree) are the hot path of getRepo: they carry links as binary CIDs (no CID
// objects) and read MST nodes in their canonical DAG-CBOR form in place (readCanonicalNode), with one iterative loop
// rather than a generator per level.
import { decode as cborDecode } from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import type { CarBlock, CarCid } from './car.ts'

export type Block = { cid: CID; bytes: Uint8Array }
/** Returns a block's bytes or throws: a stored repo missing a block is corrupt, not a client error. */
export type BlockGetter = (cid: CID) => Uint8Array
/** A BlockGetter for links given as binary CIDs (a CID object is one too). */
export type LinkGetter = (cid: CarCid) => Uint8Array

/** A commit or MST node that is not what the repo format says (a stored repo never has one; an imported CAR may). */
export class MalformedRepoError extends Error {}

/** An MST node's fields (atproto repo spec): left subtree `l`; entries with key suffix `k` after `p` shared bytes, record `v`, right subtree `t`. */
type Node<L> = { l: L | null; e: Entry<L>[] }
type Entry<L> = { p: number; k: Uint8Array; v: L; t: L | null }

export function decodeCommit(bytes: Uint8Array): { did: string; rev: string; data: CID } {
  const commit = cborDecode(bytes) as { did?: unknown; rev?: unknown; data?: unknown }
  const data = CID.asCID(commit.data)
  if (typeof commit.did !== 'string' || typeof commit.rev !== 'string' || !data) throw new Error('malformed commit block')
  return { did: commit.did, rev: commit.rev, data }
}

/** Any DAG-CBOR encoding of a node, checked field by field. */
function decodeNode(bytes: Uint8Array): Node<CID> {
  let node: Node<CID>
  try {
    node = cborDecode(bytes) as Node<CID>
  } catch {
    throw new MalformedRepoError('MST node is not DAG-CBOR')
  }
  if (!node || !Array.isArray(node.e) || (node.l !== null && !CID.asCID(node.l))) {
    throw new MalformedRepoError('malformed MST node')
  }
  for (const entry of node.e) {
    const ok =
      entry !== null &&
      typeof entry === 'object' &&
      Number.isInteger(entry.p) &&
      entry.p >= 0 &&
      entry.k instanceof Uint8Array &&
      CID.asCID(entry.v) &&
      (entry.t === null || CID.asCID(entry.t))
    if (!ok) throw new MalformedRepoError('malformed MST entry')
  }
  return node
}

// Canonical DAG-CBOR: map keys sorted by length then bytes, shortest-form lengths, CIDs as tag 42 over 0x00 ‖ CID.
const TAG_CID = [0xd8, 0x2a]
const NULL = 0xf6
const [KEY_E, KEY_L, KEY_K, KEY_P, KEY_T, KEY_V] = [...'elkptv'].map((c) => c.charCodeAt(0))

/** A cursor over one node's bytes; every read returns -1 / null where the bytes are not the canonical shape. */
class CanonicalReader {
  private pos = 0
  private readonly b: Uint8Array

  constructor(bytes: Uint8Array) {
    // A plain view: its subarrays (every key and link) are cheaper to make than a Buffer's.
    this.b = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get done(): boolean {
    return this.pos === this.b.length
  }

  /** The argument of a head of `major` type, in shortest form (what strict DAG-CBOR accepts), at most 32 bits. */
  head(major: number): number {
    const b = this.b
    const first = b[this.pos++]
    if (first === undefined || first >> 5 !== major) return -1
    const info = first & 31
    if (info < 24) return info
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0
    if (size === 0 || this.pos + size > b.length) return -1
    let n = 0
    for (let i = 0; i < size; i++) n = n * 256 + b[this.pos++]
    return n >= (size === 1 ? 24 : 2 ** (4 * size)) ? n : -1
  }

  /** A one-letter map key. */
  key(code: number): boolean {
    const ok = this.b[this.pos] === 0x61 && this.b[this.pos + 1] === code
    this.pos += 2
    return ok
  }

  bytes(): Uint8Array | null {
    const n = this.head(2)
    if (n < 0 || this.pos + n > this.b.length) return null
    return this.b.subarray(this.pos, (this.pos += n))
  }

  /** A link: its binary CID, a view into the node's bytes; `undefined` when malformed. */
  link(): CarCid | undefined {
    if (this.b[this.pos] !== TAG_CID[0] || this.b[this.pos + 1] !== TAG_CID[1]) return undefined
    this.pos += 2
    const n = this.head(2)
    const start = this.pos
    if (n < 2 || start + n > this.b.length || this.b[start] !== 0) return undefined
    this.pos += n
    return { bytes: this.b.subarray(start + 1, start + n) }
  }

  nullableLink(): CarCid | null | undefined {
    if (this.b[this.pos] !== NULL) return this.link()
    this.pos += 1
    return null
  }
}

/**
 * A node in the canonical encoding every PDS writes, `{e: [{k, p, t, v}, ...], l}`, read in place: what the generic
 * decoder would give, without its tokens, objects and CIDs. Null for any other encoding (extra fields, long forms),
 * which then goes through the generic decoder, so both accept and reject exactly the same nodes.
 */
function readCanonicalNode(bytes: Uint8Array): Node<CarCid> | null {
  const r = new CanonicalReader(bytes)
  if (r.head(5) !== 2 || !r.key(KEY_E)) return null
  const count = r.head(4)
  if (count < 0) return null
  const e: Entry<CarCid>[] = []
  for (let i = 0; i < count; i++) {
    if (r.head(5) !== 4 || !r.key(KEY_K)) return null
    const k = r.bytes()
    if (!k || !r.key(KEY_P)) return null
    const p = r.head(0)
    if (p < 0 || !r.key(KEY_T)) return null
    const t = r.nullableLink()
    if (t === undefined || !r.key(KEY_V)) return null
    const v = r.link()
    if (!v) return null
    e.push({ p, k, v, t })
  }
  if (!r.key(KEY_L)) return null
  const l = r.nullableLink()
  return l !== undefined && r.done ? { l, e } : null
}

function readNode(bytes: Uint8Array): Node<CarCid> {
  return readCanonicalNode(bytes) ?? decodeNode(bytes)
}

/** Every block of the repo under `commitCid`: the commit, then each MST node followed by its subtrees and records in key order. */
export function fullRepoBlocks(get: LinkGetter, commitCid: CID): Generator<CarBlock> {
  return walkLinks(get, commitCid, true)
}

/** A block of the tree; `key` (collection/rkey) marks a record, absent on MST nodes. */
export type TreeBlock = Block & { key?: string }

/**
 * A layer can be at most 128 (a SHA-256 has 256 leading zero bits at most, two per layer), so a deeper tree is
 * malformed: this bounds the walk's stack whatever a CAR claims.
 */
const MAX_TREE_DEPTH = 129

/**
 * The MST under `dataCid` in pre-order: each node, its left subtree, then each entry's record (with its full key) and
 * right subtree, so records come out in key order. Throws on a malformed node, keys not strictly increasing (a
 * valid tree's in-order walk is sorted, which also rules out a subtree reached twice), or a tree deeper than any
 * real one. Missing blocks are whatever `get` throws.
 */
export function* walkTree(get: BlockGetter, dataCid: CID): Generator<TreeBlock> {
  for (const { cid, bytes, key } of walkLinks((link) => get(asCid(link)), dataCid, false)) {
    yield key ? { cid: asCid(cid), bytes, key: key.toString('utf8') } : { cid: asCid(cid), bytes }
  }
}

function asCid(link: CarCid): CID {
  const cid = CID.asCID(link)
  if (cid) return cid
  try {
    return CID.decode(link.bytes)
  } catch {
    throw new MalformedRepoError('malformed CID in an MST node')
  }
}

type Frame = { node: Node<CarCid>; next: number; prevKey: Buffer }
const NO_KEY = Buffer.alloc(0)

/**
 * walkTree's order and checks, links as binary CIDs; `key` is a record's full key, null on MST nodes. From a commit
 * (`fromCommit`), the commit first and then its tree: one generator, as every level of delegation costs each block.
 */
function* walkLinks(get: LinkGetter, root: CarCid, fromCommit: boolean): Generator<CarBlock & { key: Buffer | null }> {
  // The path from the root: each node's decoded entries and where its walk is (-1: before its left subtree).
  const path: Frame[] = []
  let lastKey: Buffer | null = null
  const enter = (cid: CarCid) => {
    if (path.length >= MAX_TREE_DEPTH) throw new MalformedRepoError('MST deeper than any valid tree')
    const bytes = get(cid)
    path.push({ node: readNode(bytes), next: -1, prevKey: NO_KEY })
    return { cid, bytes, key: null }
  }
  let dataCid = root
  if (fromCommit) {
    const bytes = get(root)
    yield { cid: root, bytes, key: null }
    dataCid = decodeCommit(bytes).data
  }
  yield enter(dataCid)
  while (path.length > 0) {
    const frame = path[path.length - 1]
    const { l, e } = frame.node
    if (frame.next < 0) {
      frame.next = 0
      if (l) yield enter(l)
      continue
    }
    if (frame.next === e.length) {
      path.pop()
      continue
    }
    const entry = e[frame.next++]
    const key = entryKey(entry, frame.prevKey)
    if (lastKey && Buffer.compare(key, lastKey) <= 0) throw new MalformedRepoError('MST keys out of order')
    lastKey = frame.prevKey = key
    yield { cid: entry.v, bytes: get(entry.v), key }
    if (entry.t) yield enter(entry.t)
  }
}

/** An entry's full key: `p` bytes of the previous entry's key, then its own suffix `k`. */
function entryKey(entry: Entry<unknown>, prevKey: Buffer): Buffer {
  if (entry.p > prevKey.length) throw new MalformedRepoError('malformed MST entry')
  const key = Buffer.allocUnsafe(entry.p + entry.k.length)
  prevKey.copy(key, 0, 0, entry.p)
  key.set(entry.k, entry.p)
  return key
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
