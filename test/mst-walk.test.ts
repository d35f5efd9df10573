// The MST walk behind getRepo and importRepo (src/protocol/mst-walk.ts) reads nodes in their canonical encoding in
// place and hands any other encoding to the generic DAG-CBOR decoder: both must give the tree @atproto/repo built, in
// its own walk order, and refuse the same malformed nodes.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BlockMap, MemoryBlockstore, MST } from '@atproto/repo'
import * as cbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { MalformedRepoError, walkTree } from '../src/protocol/mst-walk.ts'

async function cidOf(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(cbor.code, await sha256.digest(bytes))
}

/** A getter over `blocks`; a block it lacks is a test failure, not a malformed tree. */
function getter(blocks: Map<string, Uint8Array>) {
  return (cid: CID) => {
    const bytes = blocks.get(cid.toString())
    if (!bytes) throw new Error(`no block ${cid}`)
    return bytes
  }
}

const walk = (blocks: Map<string, Uint8Array>, root: CID) =>
  [...walkTree(getter(blocks), root)].map((b) => [b.cid.toString(), b.key ?? null])

describe('MST walk', () => {
  it('a tree @atproto/repo built: its blocks in the order of its own walk, records with their keys; the same through the generic decoder', async () => {
    const records = new BlockMap()
    const storage = new MemoryBlockstore()
    let mst = await MST.create(storage)
    for (let i = 0; i < 500; i++) {
      mst = await mst.add(`com.example.record/r${String(i).padStart(4, '0')}`, await records.add({ n: i }))
    }
    const { root, blocks: nodes } = await mst.getUnstoredBlocks()
    await storage.putMany(nodes)
    const blocks = new Map<string, Uint8Array>()
    for (const [cid, bytes] of [...records, ...nodes]) blocks.set(cid.toString(), bytes)

    const expected: (string | null)[][] = []
    for await (const entry of MST.load(storage, root).walk()) {
      expected.push(entry.isTree() ? [(await entry.getPointer()).toString(), null] : [entry.value.toString(), entry.key])
    }
    assert.ok(expected.length > 600, `${expected.length} blocks: several layers`)
    const rootCid = CID.asCID(root)!
    assert.deepEqual(walk(blocks, rootCid), expected)

    // The root again with a field the format does not name: valid DAG-CBOR, not the canonical shape, read the same.
    const other = cbor.encode({ ...(cbor.decode(blocks.get(rootCid.toString())!) as object), x: 1 })
    const otherCid = await cidOf(other)
    blocks.set(otherCid.toString(), other)
    assert.deepEqual(walk(blocks, otherCid), [[otherCid.toString(), null], ...expected.slice(1)])
  })

  it('malformed nodes are refused on either path', async () => {
    const record: Uint8Array = cbor.encode({ n: 1 })
    const recordCid = await cidOf(record)
    const key = (s: string) => new TextEncoder().encode(`com.example.record/${s}`)
    const entry = (k: string) => ({ k: key(k), p: 0, t: null, v: recordCid })
    const canonical: Uint8Array = cbor.encode({ e: [entry('a')], l: null })
    const cases: [string, Uint8Array, RegExp][] = [
      ['keys out of order', cbor.encode({ e: [entry('b'), entry('a')], l: null }), /out of order/],
      // `p` as 0x18 0x00: a long form strict DAG-CBOR refuses.
      ['a non-minimal integer', Buffer.from(Buffer.from(canonical).toString('hex').replace('617000', '61701800'), 'hex'), /not DAG-CBOR/],
      ['a truncated node', canonical.subarray(0, canonical.length - 3), /not DAG-CBOR/],
      ['an entry without its subtree link', cbor.encode({ e: [{ k: key('a'), p: 0, v: recordCid }], l: null }), /malformed MST entry/],
      ['a prefix longer than the previous key', cbor.encode({ e: [{ ...entry('a'), p: 3 }], l: null }), /malformed MST entry/],
    ]
    for (const [what, bytes, message] of cases) {
      const cid = await cidOf(bytes)
      const blocks = new Map<string, Uint8Array>([[cid.toString(), bytes], [recordCid.toString(), record]])
      assert.throws(() => walk(blocks, cid), (err: Error) => err instanceof MalformedRepoError && message.test(err.message), what)
    }
    // The canonical node itself walks.
    const cid = await cidOf(canonical)
    const blocks = new Map<string, Uint8Array>([[cid.toString(), canonical], [recordCid.toString(), record]])
    assert.deepEqual(walk(blocks, cid), [[cid.toString(), null], [recordCid.toString(), 'com.example.record/a']])
  })
})
