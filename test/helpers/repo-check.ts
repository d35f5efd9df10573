// Independent checks of what the server stored and sequenced, with @atproto/repo doing the verification.
import assert from 'node:assert/strict'
import { BlockMap, MemoryBlockstore, MST, readCarWithRoot, verifyCommitSig, verifyRepo } from '@atproto/repo'
import { DidResolver } from '@atproto/identity'
import * as cbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { decodeFrame } from '../../src/protocol/frames.ts'
import type { TestPds } from './pds.ts'

export type DecodedEvent = { seq: number; type: string; body: any; frame: Uint8Array }

export function events(pds: TestPds, after = 0): DecodedEvent[] {
  return pds.ctx.sequencer.range(after, 100_000).map((row) => {
    const { header, body } = decodeFrame(row.frame)
    return { seq: row.seq, type: header.t!, body, frame: row.frame }
  })
}

export async function signingDidKey(pds: TestPds, did: string): Promise<string> {
  // Our own resolver, not the server's: the key must come from the directory's DID document.
  const resolver = new DidResolver({ plcUrl: pds.ctx.cfg.didPlcUrl, fetch: globalThis.fetch })
  return (await resolver.resolveAtprotoData(did, true)).signingKey
}

/** Every stored block of a repo → verifyRepo against the DID document's key. Returns the records it holds. */
export async function verifyStoredRepo(pds: TestPds, did: string) {
  const rows = pds.db.prepare('SELECT cid, content FROM repo_block WHERE did = ?').all(did) as {
    cid: string
    content: Uint8Array
  }[]
  const blocks = new BlockMap()
  for (const row of rows) blocks.set(CID.parse(row.cid), row.content)
  const root = pds.ctx.repo.root(did)!
  const verified = await verifyRepo(blocks, root.cid, did, await signingDidKey(pds, did))
  return verified
}

/**
 * Sync v1.1 check of one #commit event: the CAR's root is the commit, the signature verifies, and undoing the ops on
 * the partial MST in `blocks` yields `prevData`.
 */
export async function checkCommitEvent(body: any, didKey: string): Promise<void> {
  const car = await readCarWithRoot(body.blocks)
  assert.ok(car.root.equals(body.commit), 'CAR root is the commit')
  const commit = cbor.decode(car.blocks.get(car.root)!) as any
  assert.equal(commit.rev, body.rev)
  assert.equal(commit.did, body.repo)
  assert.equal(commit.version, 3)
  assert.ok(await verifyCommitSig(commit, didKey), 'commit signature verifies')
  if (!body.prevData) {
    assert.equal(body.since, null, 'only a first commit has no prevData')
    return
  }
  let mst = MST.load(new MemoryBlockstore(car.blocks), commit.data)
  for (const op of [...body.ops].reverse()) {
    if (op.action === 'create') mst = await mst.delete(op.path)
    else if (op.action === 'update') mst = await mst.update(op.path, op.prev)
    else mst = await mst.add(op.path, op.prev)
  }
  const inverted = await mst.getPointer()
  assert.ok(inverted.equals(body.prevData), `inverted root ${inverted} equals prevData ${body.prevData}`)
}
