// Event bodies as the firehose lexicon names them (without seq and time, which the sequencer adds).
import type { CommitData } from '@atproto/repo'
import type { Cid } from '@atproto/lex-data'
import { carFile } from './car.ts'
import { CidBlockMap } from './cid-block-map.ts'

export type CommitOp = { action: 'create' | 'update' | 'delete'; path: string; cid: Cid | null; prev?: Cid }

export const MAX_COMMIT_BLOCKS_BYTES = 2_000_000

/**
 * `#commit` (sync v1.1): the CAR holds the commit, every new block, and the covering proofs of every changed key, so
 * a relay can invert the ops onto `prevData`.
 */
export function commitEventBody(
  did: string,
  commit: CommitData,
  ops: CommitOp[],
  prevData: Cid | null,
): Record<string, unknown> {
  const blocks = new CidBlockMap()
  blocks.addMap(commit.newBlocks)
  blocks.addMap(commit.relevantBlocks)
  return {
    repo: did,
    commit: commit.cid,
    rev: commit.rev,
    since: commit.since,
    blocks: carFile(commit.cid, [...blocks].map(([cid, bytes]) => ({ cid, bytes }))),
    ops,
    prevData: prevData ?? undefined,
    rebase: false,
    tooBig: false,
    blobs: [],
  }
}

/** `#sync`: only the commit block, "this is the repo's current state". */
export function syncEventBody(did: string, commit: { cid: Cid; rev: string; bytes: Uint8Array }): Record<string, unknown> {
  return { did, rev: commit.rev, blocks: carFile(commit.cid, [{ cid: commit.cid, bytes: commit.bytes }]) }
}

export function identityEventBody(did: string, handle: string): Record<string, unknown> {
  return { did, handle }
}

export function accountEventBody(did: string, active: boolean, status?: string): Record<string, unknown> {
  return active ? { did, active } : { did, active, status }
}
