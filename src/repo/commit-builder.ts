// A signed commit built from a batch's net changes: @atproto/repo's Repo.formatCommit, step for step (same tree, same
// blocks in the same order, same signed commit), with three differences that matter on the write path:
// - the records' blocks are the bytes src/repo/prepare.ts already encoded (formatCommit encodes every record again);
// - the new tree comes back with the commit, already in memory, so the repo's next write can start from it
//   (src/repo/repo-heads.ts) instead of reading and decoding the root-to-leaf path the commit just wrote;
// - the covering proofs (MST.getCoveringProof's three walks) take each node's block from the blocks the diff has
//   just serialized, or serialize it once per commit: the library serializes every node of every walk again, up to
//   three times per node per write, which was a tenth of a sequential write's CPU time.
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor, type Cid } from '@atproto/lex-data'
import type { Keypair } from '@atproto/crypto'
import { TID } from '@atproto/common-web'
import { DataDiff, MST, Repo, signCommit, type CommitData, type NodeEntry } from '@atproto/repo'
import { CidBlockMap } from '../protocol/cid-block-map.ts'

/** One path's change: `key` is `collection/rkey`; creates and updates carry the record's CID and DAG-CBOR bytes. */
export type TreeChange =
  | { action: 'create' | 'update'; key: string; cid: Cid; bytes: Uint8Array }
  | { action: 'delete'; key: string }

/**
 * The commit of `changes` on top of `head`, signed with `keypair`, and the repo as that commit leaves it. `head` is
 * not changed (@atproto/repo's trees are immutable). Throws as MST operations do on a change that does not apply
 * (a create of an existing key, an update or delete of a missing one): callers check that first.
 */
export async function buildCommit(
  head: Repo,
  changes: readonly TreeChange[],
  keypair: Keypair,
): Promise<{ commit: CommitData; next: Repo }> {
  const leaves = new CidBlockMap()
  let data = head.data
  for (const c of changes) {
    if (c.action === 'delete') {
      data = await data.delete(c.key)
      continue
    }
    leaves.set(c.cid, c.bytes)
    data = c.action === 'create' ? await data.add(c.key, c.cid) : await data.update(c.key, c.cid)
  }
  const dataCid = await data.getPointer()
  const diff = await DataDiff.of(data, head.data)
  const newBlocks = new CidBlockMap(diff.newMstBlocks)
  const removedCids = diff.removedCids
  const prover = new CoveringProofs(newBlocks)
  const proofs = await Promise.all(changes.map((c) => prover.of(data, c.key)))
  const relevantBlocks = new CidBlockMap()
  for (const proof of proofs) relevantBlocks.addMap(proof)
  for (const cid of diff.newLeafCids.toList()) {
    const bytes = leaves.get(cid)
    if (!bytes) throw new Error(`Missing leaf block: ${cid.toString()}`)
    newBlocks.set(cid, bytes)
    relevantBlocks.set(cid, bytes)
  }

  const rev = TID.nextStr(head.commit.rev)
  const signed = await signCommit({ did: head.did, version: 3, rev, prev: null, data: dataCid }, keypair)
  const commitBytes = cborEncode(signed)
  const commitCid = await cidForCbor(commitBytes)
  if (!commitCid.equals(head.cid)) {
    newBlocks.set(commitCid, commitBytes)
    relevantBlocks.set(commitCid, commitBytes)
    removedCids.add(head.cid)
  }
  return {
    commit: { cid: commitCid, rev, since: head.commit.rev, prev: head.cid, newBlocks, relevantBlocks, removedCids },
    next: new Repo({ storage: head.storage, data, commit: signed, cid: commitCid }),
  }
}

/**
 * MST.getCoveringProof (the nodes on the paths to `key` and to its neighbours, which sync v1.1 verifiers need to
 * invert the ops), walking the same nodes in the same order, with each node's block serialized at most once.
 */
class CoveringProofs {
  private readonly fresh: CidBlockMap
  private readonly blocks = new Map<MST, Promise<{ cid: Cid; bytes: Uint8Array }>>()

  /** `fresh`: blocks of the new tree's new nodes, already serialized by the diff. */
  constructor(fresh: CidBlockMap) {
    this.fresh = fresh
  }

  async of(tree: MST, key: string): Promise<CidBlockMap> {
    const [self, left, right] = await Promise.all([this.forKey(tree, key), this.forLeftSib(tree, key), this.forRightSib(tree, key)])
    return self.addMap(left).addMap(right)
  }

  private block(node: MST): Promise<{ cid: Cid; bytes: Uint8Array }> {
    let block = this.blocks.get(node)
    if (!block) {
      block = (async () => {
        // Every pointer of the new tree is computed (buildCommit asked for the root's), so this is no hashing.
        const cid = await node.getPointer()
        const bytes = this.fresh.get(cid)
        return bytes ? { cid, bytes } : node.serialize()
      })()
      this.blocks.set(node, block)
    }
    return block
  }

  private async withNode(node: MST, blocks: CidBlockMap): Promise<CidBlockMap> {
    const { cid, bytes } = await this.block(node)
    return blocks.set(cid, bytes)
  }

  private async forKey(node: MST, key: string): Promise<CidBlockMap> {
    const index = await node.findGtOrEqualLeafIndex(key)
    const found = await node.atIndex(index)
    if (found && found.isLeaf() && found.key === key) return this.withNode(node, new CidBlockMap())
    const prev = await node.atIndex(index - 1)
    if (!prev || prev.isLeaf()) return new CidBlockMap()
    return this.withNode(node, await this.forKey(prev, key))
  }

  private async forLeftSib(node: MST, key: string): Promise<CidBlockMap> {
    const index = await node.findGtOrEqualLeafIndex(key)
    const prev = await node.atIndex(index - 1)
    const blocks = !prev || prev.isLeaf() ? new CidBlockMap() : await this.forLeftSib(prev, key)
    return this.withNode(node, blocks)
  }

  private async forRightSib(node: MST, key: string): Promise<CidBlockMap> {
    const index = await node.findGtOrEqualLeafIndex(key)
    const found: NodeEntry | null = (await node.atIndex(index)) ?? (await node.atIndex(index - 1))
    let blocks: CidBlockMap
    if (!found) {
      blocks = new CidBlockMap()
    } else if (found.isTree()) {
      blocks = await this.forRightSib(found, key)
    } else {
      const next = found.key === key ? await node.atIndex(index + 1) : await node.atIndex(index - 1)
      blocks = !next || next.isLeaf() ? new CidBlockMap() : await this.forRightSib(next, key)
    }
    return this.withNode(node, blocks)
  }
}
