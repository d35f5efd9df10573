// Signed repo commits: `{did, version, data, rev, prev?, sig}`, the signature over the DAG-CBOR of the rest
// (the atproto repository spec; @atproto/repo util.js signCommit/verifyCommitSig).
import { verifySignature } from '@atproto/crypto'
import { isValidTid } from '@atproto/syntax'
import { decode as cborDecode, encode as cborEncode } from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { MalformedRepoError } from './mst-walk.ts'

export type SignedCommit = { did: string; version: 2 | 3; data: CID; rev: string; sig: Uint8Array; [field: string]: unknown }

/** A commit block's fields; MalformedRepoError unless it is a v2 or v3 commit with a TID rev and a signature. */
export function decodeSignedCommit(bytes: Uint8Array): SignedCommit {
  let commit: Record<string, unknown>
  try {
    commit = cborDecode(bytes) as Record<string, unknown>
  } catch {
    throw new MalformedRepoError('the commit block is not DAG-CBOR')
  }
  const data = CID.asCID(commit?.data)
  const valid =
    typeof commit?.did === 'string' &&
    (commit.version === 3 || commit.version === 2) &&
    data !== null &&
    typeof commit.rev === 'string' &&
    isValidTid(commit.rev) &&
    commit.sig instanceof Uint8Array
  if (!valid) throw new MalformedRepoError('the root block is not a signed repo commit')
  return { ...commit, data } as SignedCommit
}

/** Whether `didKey` (a did:key) made the commit's signature. */
export async function isSignedBy(commit: SignedCommit, didKey: string): Promise<boolean> {
  const { sig, ...unsigned } = commit
  return verifySignature(didKey, cborEncode(unsigned), sig)
}
