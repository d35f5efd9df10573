// A signed commit built from a batch's net changes: @atproto/repo's Repo.formatCommit, step for step (same tree, same
// blocks in the same order, same signed commit), with two differences that matter on the write path:
// - the records' blocks are the bytes src/repo/prepare.ts already encoded (formatCommit encodes every record again);
// - the new tree comes back with the commit, already in memory, so the repo's next write can start from it
//   (src/repo/repo-heads.ts) instead of reading and decoding the root-to-leaf path the commit just wrote.
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor, type Cid } from '@atproto/lex-data'
import type { Keypair } from '@atproto/crypto'
import { TID } from '@atproto/common-web'
import { BlockMap, DataDiff, Repo, signCommit, type CommitData } from '@atproto/repo'

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
  const leaves = new BlockMap()
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
  const newBlocks = diff.newMstBlocks
  const removedCids = diff.removedCids
  const proofs = await Promise.all(changes.map((c) => data.getCoveringProof(c.key)))
  const relevantBlocks = new BlockMap()
  for (const proof of proofs) relevantBlocks.addMap(proof)
  const addedLeaves = leaves.getMany(diff.newLeafCids.toList())
  if (addedLeaves.missing.length > 0) throw new Error(`Missing leaf blocks: ${addedLeaves.missing.join(', ')}`)
  newBlocks.addMap(addedLeaves.blocks)
  relevantBlocks.addMap(addedLeaves.blocks)

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
