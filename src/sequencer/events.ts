// Event bodies as the firehose lexicon names them (without seq and time, which the sequencer adds).
import { blocksToCarFile, BlockMap, type CommitData } from '@atproto/repo'
import type { Cid } from '@atproto/lex-data'

export type CommitOp = { action: 'create' | 'update' | 'delete'; path: string; cid: Cid | null; prev?: Cid }

export const MAX_COMMIT_BLOCKS_BYTES = 2_000_000

/**
 * `#commit` (sync v1.1): the CAR holds the commit, every new block, and the covering proofs of every changed key, so
 * a relay can invert the ops onto `prevData`.
 */
export async function commitEventBody(
  did: string,
  commit: CommitData,
  ops: CommitOp[],
  prevData: Cid | null,
): Promise<Record<string, unknown>> {
  const blocks = new BlockMap()
  blocks.addMap(commit.newBlocks)
  blocks.addMap(commit.relevantBlocks)
  return {
    repo: did,
    commit: commit.cid,
    rev: commit.rev,
    since: commit.since,
    blocks: await blocksToCarFile(commit.cid, blocks),
    ops,
    prevData: prevData ?? undefined,
    rebase: false,
    tooBig: false,
    blobs: [],
  }
}

/** `#sync`: only the commit block, "this is the repo's current state". */
export async function syncEventBody(did: string, commit: CommitData): Promise<Record<string, unknown>> {
  const { blocks, missing } = commit.newBlocks.getMany([commit.cid])
  if (missing.length) throw new Error('commit block missing from commit data')
  return { did, rev: commit.rev, blocks: await blocksToCarFile(commit.cid, blocks) }
}

export function identityEventBody(did: string, handle: string): Record<string, unknown> {
  return { did, handle }
}

export function accountEventBody(did: string, active: boolean, status?: string): Record<string, unknown> {
  return active ? { did, active } : { did, active, status }
}
