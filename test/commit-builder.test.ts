// src/repo/commit-builder.ts against @atproto/repo's own Repo.formatCommit, on the same repo and the same changes:
// the same tree, blocks, proofs and removed blocks; and the repo it returns is the one a fresh load of the commit
// gives, so the next write can start from it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Secp256k1Keypair } from '@atproto/crypto'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor } from '@atproto/lex-data'
import { MemoryBlockstore, Repo, WriteOpAction, type RecordCreateOp, type RecordWriteOp } from '@atproto/repo'
import { buildCommit, type TreeChange } from '../src/repo/commit-builder.ts'

const keypair = await Secp256k1Keypair.create()
const post = (i: number) => ({ $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: new Date(0).toISOString() })
const rkey = (i: number) => `3k${String(i).padStart(11, '0')}`

async function changeOf(op: RecordWriteOp): Promise<TreeChange> {
  const key = `${op.collection}/${op.rkey}`
  if (op.action === WriteOpAction.Delete) return { action: 'delete', key }
  const bytes = cborEncode(op.record as never)
  return { action: op.action === WriteOpAction.Create ? 'create' : 'update', key, cid: await cidForCbor(bytes), bytes }
}

const cids = (m: Iterable<unknown> | { keys(): Iterable<unknown> }) => [...('keys' in m ? m.keys() : m)].map(String)

describe('commit builder', () => {
  it('builds what Repo.formatCommit builds, and returns the repo the commit leaves', async () => {
    const storage = new MemoryBlockstore()
    const creates: RecordCreateOp[] = Array.from({ length: 300 }, (_, i) => ({
      action: WriteOpAction.Create,
      collection: 'app.bsky.feed.post' as never,
      rkey: rkey(i),
      record: post(i),
    }))
    let repo = await Repo.create(storage, 'did:example:builder', keypair, creates)
    const batches: RecordWriteOp[][] = [
      [{ action: WriteOpAction.Create, collection: 'app.bsky.feed.post' as never, rkey: rkey(1000), record: post(1000) }],
      [
        { action: WriteOpAction.Update, collection: 'app.bsky.feed.post' as never, rkey: rkey(5), record: post(-5) },
        { action: WriteOpAction.Delete, collection: 'app.bsky.feed.post' as never, rkey: rkey(150) },
        { action: WriteOpAction.Create, collection: 'app.bsky.actor.profile' as never, rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'b' } },
      ],
      [{ action: WriteOpAction.Delete, collection: 'app.bsky.feed.post' as never, rkey: rkey(0) }],
    ]
    // And batches spread over the key space: creates between existing keys, updates, deletes (a fixed sequence).
    let x = 7
    const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31)
    const live = new Set(Array.from({ length: 300 }, (_, i) => i).filter((i) => i !== 150 && i !== 0).concat([1000]))
    for (let b = 0; b < 12; b++) {
      const ops: RecordWriteOp[] = []
      const used = new Set<number>()
      for (let k = 0; k < 1 + (b % 5); k++) {
        const i = next() % 1200
        if (used.has(i)) continue
        used.add(i)
        const collection = 'app.bsky.feed.post' as never
        if (!live.has(i)) ops.push({ action: WriteOpAction.Create, collection, rkey: rkey(i), record: post(i) })
        else if (next() % 2) ops.push({ action: WriteOpAction.Update, collection, rkey: rkey(i), record: post(i + 5000) })
        else ops.push({ action: WriteOpAction.Delete, collection, rkey: rkey(i) })
      }
      for (const op of ops) {
        const i = Number(op.rkey.slice(2))
        if (op.action === WriteOpAction.Delete) live.delete(i)
        else live.add(i)
      }
      batches.push(ops)
    }
    for (const ops of batches) {
      const theirs = await repo.formatCommit(ops, keypair)
      const { commit: ours, next } = await buildCommit(repo, await Promise.all(ops.map(changeOf)), keypair)
      // The commit blocks differ only by rev (a clock) and so signature: compare the tree and everything else.
      const withoutCommit = (list: string[], commitCid: string) => list.filter((c) => c !== commitCid)
      assert.deepEqual(withoutCommit(cids(ours.newBlocks), ours.cid.toString()), withoutCommit(cids(theirs.newBlocks), theirs.cid.toString()))
      assert.deepEqual(withoutCommit(cids(ours.relevantBlocks), ours.cid.toString()), withoutCommit(cids(theirs.relevantBlocks), theirs.cid.toString()))
      assert.deepEqual(cids(ours.removedCids), cids(theirs.removedCids))
      assert.equal(ours.since, theirs.since)
      assert.ok(ours.prev?.equals(theirs.prev!))
      // Store our commit: a fresh load of it is the repo we were handed back.
      await storage.applyCommit(ours)
      const loaded = await Repo.load(storage, ours.cid)
      assert.ok(next.cid.equals(ours.cid))
      assert.ok((await next.data.getPointer()).equals(await loaded.data.getPointer()))
      assert.deepEqual(await next.data.list(), await loaded.data.list())
      assert.equal(next.commit.rev, ours.rev)
      assert.equal(next.did, 'did:example:builder')
      repo = next
    }
  })
})

describe('CidBlockMap', () => {
  it('holds and iterates exactly what a BlockMap holds, in the same order, handing back the CID objects it was given', async () => {
    const { BlockMap } = await import('@atproto/repo')
    const { CidBlockMap } = await import('../src/protocol/cid-block-map.ts')
    const blocks = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const bytes = cborEncode({ i } as never)
      return [await cidForCbor(bytes), bytes] as const
    }))
    const plain = new BlockMap()
    const ours = new CidBlockMap()
    const ops = (m: InstanceType<typeof BlockMap>) => {
      for (const [cid, bytes] of blocks.slice(0, 12)) m.set(cid, bytes)
      m.set(blocks[3][0], blocks[3][1]) // again: keeps its place
      m.delete(blocks[5][0])
      m.addMap(new BlockMap(blocks.slice(10)))
    }
    ops(plain)
    ops(ours)
    const listed = (m: Iterable<[{ toString(): string }, Uint8Array]>) => [...m].map(([c, b]) => [c.toString(), Buffer.from(b).toString('hex')])
    assert.deepEqual(listed(ours), listed(plain))
    assert.deepEqual([...ours.keys()].map(String), [...plain.keys()].map(String))
    assert.equal(ours.size, plain.size)
    assert.equal([...ours][0][0], blocks[0][0], 'the CID object itself, not a parsed copy')
    assert.ok(new CidBlockMap(plain).equals(plain))
  })
})
