// com.atproto.sync.*: CARs checked with @atproto/repo against the DID document's key, blobs byte for byte, a 10k-record
// repo streamed with flat memory, and a table of bad input.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'
import {
  BlockMap,
  MemoryBlockstore,
  MST,
  readCar,
  readCarStream,
  readCarWithRoot,
  Repo,
  verifyDiffCar,
  verifyProofs,
  verifyRecords,
  verifyRepo,
  verifyRepoCar,
  writeCarStream,
} from '@atproto/repo'
import * as cbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { carStreams, type CarStreamInfo } from '../src/repo/car-stream.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { signingDidKey } from './helpers/repo-check.ts'

v8.setFlagsFromString('--expose-gc')
// Freed buffers must leave process.memoryUsage() when gc() returns, not later on a background thread.
v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping')
const gc = vm.runInNewContext('gc') as () => void

const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
type User = Awaited<ReturnType<typeof createUser>>

async function fetchBytes(pds: TestPds, nsid: string, query: string) {
  const res = await fetch(`${pds.url}/xrpc/${nsid}?${query}`)
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) }
}

async function getRepo(pds: TestPds, did: string, since?: string): Promise<Uint8Array> {
  const res = await fetchBytes(pds, 'com.atproto.sync.getRepo', `did=${did}${since ? `&since=${since}` : ''}`)
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.car')
  return res.bytes
}

/** uri → cid of every record the repo index holds, via listRecords over all collections. */
async function listedRecords(user: User): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const { data } = await user.agent.com.atproto.repo.describeRepo({ repo: user.did })
  for (const collection of data.collections) {
    let cursor: string | undefined
    do {
      const page = await user.agent.com.atproto.repo.listRecords({ repo: user.did, collection, limit: 100, cursor })
      for (const r of page.data.records) out.set(r.uri, r.cid)
      cursor = page.data.records.length === 100 ? page.data.cursor : undefined
    } while (cursor)
  }
  return out
}

describe('sync endpoints', () => {
  let plc: TestPlc
  let pds: TestPds
  let alice: User
  let aliceKey: string

  before(async () => {
    plc = await startPlc()
    // The 10,000-record repo below is written 200 records of 1.6 KB per applyWrites: above the default body limit.
    pds = await startPds({ plcUrl: plc.url, env: { PDS_MAX_REQUEST_BYTES: String(1024 * 1024) } })
    alice = await createUser(pds)
    aliceKey = await signingDidKey(pds, alice.did)
    for (let i = 0; i < 25; i++) {
      await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post(`post ${i}`) })
    }
    await alice.agent.com.atproto.repo.putRecord({
      repo: alice.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: { $type: 'app.bsky.actor.profile', displayName: 'Alice' },
    })
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  it('getRepo: a CAR rooted at the current commit that verifies and holds every record with its CID', async () => {
    const bytes = await getRepo(pds, alice.did)
    const verified = await verifyRepoCar(bytes, alice.did, aliceKey)
    const latest = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
    assert.equal(verified.commit.cid.toString(), latest.data.cid)
    assert.equal(verified.commit.rev, latest.data.rev)
    const inCar = new Map(verified.creates.map((c) => [`at://${alice.did}/${c.collection}/${c.rkey}`, c.cid.toString()]))
    const listed = await listedRecords(alice)
    assert.equal(listed.size, 26)
    assert.deepEqual(inCar, listed)
    // The commit comes first, as the spec suggests for streaming readers.
    const { blocks } = await readCarStream([bytes])
    const first = await blocks.next()
    assert.equal(first.value?.cid.toString(), latest.data.cid)
    await blocks.dump()
    // getCheckout is the same export.
    const checkout = await fetchBytes(pds, 'com.atproto.sync.getCheckout', `did=${alice.did}`)
    assert.deepEqual(checkout.bytes, bytes)
  })

  it('getRepo since: the diff applied to the older checkout gives the new commit and records', async () => {
    const old = await readCarWithRoot(await getRepo(pds, alice.did))
    const since = (await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })).data.rev
    const listedBefore = await listedRecords(alice)
    const [deleted, updated] = [...listedBefore.keys()].filter((u) => u.includes('app.bsky.feed.post'))
    await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: deleted.split('/').pop()! })
    await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: updated.split('/').pop()!, record: post('edited') })
    const added = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('new') })

    const diffBytes = await getRepo(pds, alice.did, since)
    const diff = await readCarWithRoot(diffBytes)
    const latest = (await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })).data
    assert.equal(diff.root.toString(), latest.cid)
    assert.ok(diff.blocks.size < old.blocks.size / 2, `a diff (${diff.blocks.size} blocks) is not a full export`)
    assert.ok(!diff.blocks.has(CID.parse(listedBefore.get(deleted)!)), 'no deleted record in the diff')

    const oldRepo = await Repo.load(new MemoryBlockstore(old.blocks), old.root)
    const verifiedDiff = await verifyDiffCar(oldRepo, diffBytes, alice.did, aliceKey)
    const writes = new Map(verifiedDiff.writes.map((w) => [`${w.collection}/${w.rkey}`, w.action]))
    assert.equal(writes.get(deleted.split('/').slice(-2).join('/')), 'delete')
    assert.equal(writes.get(updated.split('/').slice(-2).join('/')), 'update')
    assert.equal(writes.get(added.data.uri.split('/').slice(-2).join('/')), 'create')

    // Old blocks plus the diff hold the whole new repo.
    const merged = new BlockMap().addMap(old.blocks).addMap(diff.blocks)
    const full = await verifyRepo(merged, diff.root, alice.did, aliceKey)
    const listed = await listedRecords(alice)
    assert.deepEqual(new Map(full.creates.map((c) => [`at://${alice.did}/${c.collection}/${c.rkey}`, c.cid.toString()])), listed)

    // Since the current rev: nothing new.
    const none = await readCar(await getRepo(pds, alice.did, latest.rev))
    assert.equal(none.blocks.size, 0)
  })

  it('getRecord: proofs of presence and of absence verify against the signing key', async () => {
    const created = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('proved') })
    const rkey = created.data.uri.split('/').pop()!
    const gone = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('to delete') })
    const goneRkey = gone.data.uri.split('/').pop()!
    await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: goneRkey })

    const proof = await fetchBytes(pds, 'com.atproto.sync.getRecord', `did=${alice.did}&collection=app.bsky.feed.post&rkey=${rkey}`)
    assert.equal(proof.status, 200)
    const present = { collection: 'app.bsky.feed.post', rkey, cid: CID.parse(created.data.cid) }
    const res = await verifyProofs(proof.bytes, [present], alice.did, aliceKey)
    assert.equal(res.verified.length, 1)
    const wrong = await verifyProofs(proof.bytes, [{ ...present, cid: null }], alice.did, aliceKey)
    assert.equal(wrong.unverified.length, 1, 'the same proof refutes absence')
    const records = await verifyRecords(proof.bytes, alice.did, aliceKey)
    assert.deepEqual(records.map((r) => [r.rkey, (r.record as { text: string }).text]), [[rkey, 'proved']])
    // Only the path: far fewer blocks than the repo.
    const car = await readCarWithRoot(proof.bytes)
    assert.equal(car.root.toString(), pds.ctx.repo.root(alice.did)!.cid.toString())
    assert.ok(car.blocks.size <= 8, `${car.blocks.size} blocks`)

    const absence = await fetchBytes(pds, 'com.atproto.sync.getRecord', `did=${alice.did}&collection=app.bsky.feed.post&rkey=${goneRkey}`)
    assert.equal(absence.status, 200)
    const absent = { collection: 'app.bsky.feed.post', rkey: goneRkey, cid: null }
    assert.equal((await verifyProofs(absence.bytes, [absent], alice.did, aliceKey)).verified.length, 1)
    assert.equal((await verifyRecords(absence.bytes, alice.did, aliceKey)).length, 0)
  })

  it('getBlocks returns exactly the asked blocks; an unknown CID is BlockNotFound', async () => {
    const root = pds.ctx.repo.root(alice.did)!.cid
    const [recordCid] = [...(await listedRecords(alice)).values()]
    const ask = [root.toString(), recordCid, recordCid]
    const res = await fetchBytes(pds, 'com.atproto.sync.getBlocks', `did=${alice.did}&${ask.map((c) => `cids=${c}`).join('&')}`)
    assert.equal(res.status, 200)
    const car = await readCar(res.bytes)
    assert.deepEqual(car.roots, [])
    assert.deepEqual(car.blocks.cids().map(String).sort(), [root.toString(), recordCid].sort())
    const commit = cbor.decode(car.blocks.get(root)!) as { did: string }
    assert.equal(commit.did, alice.did)

    const unknown = CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
    const missing = await xrpc(pds, 'com.atproto.sync.getBlocks', { query: { did: alice.did, cids: unknown.toString() } })
    assert.equal(missing.status, 400)
    assert.equal(missing.body.error, 'BlockNotFound')
  })

  it('getLatestCommit, getHead and getRepoStatus name the current commit', async () => {
    const root = pds.ctx.repo.root(alice.did)!
    const latest = await xrpc(pds, 'com.atproto.sync.getLatestCommit', { query: { did: alice.did } })
    assert.deepEqual(latest.body, { cid: root.cid.toString(), rev: root.rev })
    const head = await xrpc(pds, 'com.atproto.sync.getHead', { query: { did: alice.did } })
    assert.deepEqual(head.body, { root: root.cid.toString() })
    const status = await xrpc(pds, 'com.atproto.sync.getRepoStatus', { query: { did: alice.did } })
    assert.deepEqual(status.body, { did: alice.did, active: true, rev: root.rev })
  })

  it('listRepos pages through every repo exactly once', async () => {
    for (let i = 0; i < 4; i++) await createUser(pds)
    const all = pds.db.prepare('SELECT did FROM account').pluck().all() as string[]
    assert.ok(all.length >= 5)
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await alice.agent.com.atproto.sync.listRepos({ limit: 2, cursor })
      pages += 1
      assert.ok(page.data.repos.length <= 2)
      for (const repo of page.data.repos) {
        seen.push(repo.did)
        const root = pds.ctx.repo.root(repo.did)!
        assert.deepEqual(repo, { did: repo.did, head: root.cid.toString(), rev: root.rev, active: true })
      }
      cursor = page.data.cursor
    } while (cursor && pages < 100)
    assert.equal(new Set(seen).size, seen.length, 'no repo twice')
    assert.deepEqual([...seen].sort(), [...all].sort())
    assert.equal(pages, Math.floor(all.length / 2) + 1)
  })

  it('listBlobs and getBlob: referenced blobs only, byte for byte, with safe headers; listMissingBlobs', async () => {
    const bob = await createUser(pds)
    // A PNG signature first: uploads are typed by their bytes, and bare random bytes now and then sniff as audio/mpeg.
    const image = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(4992)])
    const up = await bob.agent.com.atproto.repo.uploadBlob(image, { encoding: 'image/png' })
    const temp = await bob.agent.com.atproto.repo.uploadBlob(randomBytes(100), { encoding: 'image/jpeg' })
    const before = (await bob.agent.com.atproto.sync.getLatestCommit({ did: bob.did })).data.rev
    const created = await bob.agent.com.atproto.repo.createRecord({
      repo: bob.did,
      collection: 'app.bsky.feed.post',
      record: { ...post('with image'), embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'noise', image: up.data.blob }] } },
    })
    const cid = up.data.blob.ref.toString()

    const list = await bob.agent.com.atproto.sync.listBlobs({ did: bob.did })
    assert.deepEqual(list.data.cids, [cid])
    assert.equal(list.data.cursor, undefined)
    const sinceBefore = await bob.agent.com.atproto.sync.listBlobs({ did: bob.did, since: before })
    assert.deepEqual(sinceBefore.data.cids, [cid])
    const sinceAfter = await bob.agent.com.atproto.sync.listBlobs({ did: bob.did, since: created.data.commit!.rev })
    assert.deepEqual(sinceAfter.data.cids, [])

    const got = await fetchBytes(pds, 'com.atproto.sync.getBlob', `did=${bob.did}&cid=${cid}`)
    assert.equal(got.status, 200)
    assert.deepEqual(Buffer.from(got.bytes), image)
    assert.equal(got.headers.get('content-type'), 'image/png')
    assert.equal(got.headers.get('content-length'), '5000')
    assert.equal(got.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(got.headers.get('content-security-policy'), "default-src 'none'; sandbox")
    assert.equal(got.headers.get('content-disposition'), `attachment; filename="${cid}"`)

    const tempGet = await xrpc(pds, 'com.atproto.sync.getBlob', { query: { did: bob.did, cid: temp.data.blob.ref.toString() } })
    assert.equal(tempGet.status, 404)
    assert.equal(tempGet.body.error, 'BlobNotFound')
    // Another repo's blob is not this repo's.
    const wrongRepo = await xrpc(pds, 'com.atproto.sync.getBlob', { query: { did: alice.did, cid } })
    assert.equal(wrongRepo.status, 404)

    assert.deepEqual((await bob.agent.com.atproto.repo.listMissingBlobs({})).data.blobs, [])
    rmSync(path.join(pds.dataDir, 'blobs', bob.did, cid))
    const missing = await bob.agent.com.atproto.repo.listMissingBlobs({})
    assert.deepEqual(missing.data.blobs, [{ cid, recordUri: created.data.uri }])
    const lost = await xrpc(pds, 'com.atproto.sync.getBlob', { query: { did: bob.did, cid } })
    assert.equal(lost.status, 404)
    assert.equal(lost.body.error, 'BlobNotFound')
  })

  describe('a 10,000-record repo', () => {
    let big: User
    let blockCount: number
    let blockBytes: number

    before(async () => {
      big = await createUser(pds)
      for (let batch = 0; batch < 50; batch++) {
        const writes = Array.from({ length: 200 }, (_, i) => ({
          $type: 'com.atproto.repo.applyWrites#create' as const,
          collection: 'com.example.filler',
          value: { $type: 'com.example.filler', n: batch * 200 + i, data: randomBytes(1200).toString('base64') },
        }))
        await big.agent.com.atproto.repo.applyWrites({ repo: big.did, writes })
      }
      const stats = pds.db
        .prepare('SELECT count(*) AS n, sum(length(content)) AS bytes FROM repo_block WHERE did = ?')
        .get(big.did) as { n: number; bytes: number }
      blockCount = stats.n
      blockBytes = stats.bytes
      assert.equal(pds.ctx.records.count(big.did), 10_000)
    })

    it('getRepo is the commit, then each MST node before its subtrees and records in key order: byte for byte the CAR @atproto/repo writes for its own MST walk', async () => {
      const bytes = await getRepo(pds, big.did)
      const { root, blocks } = await readCarWithRoot(bytes)
      const data = (cbor.decode(blocks.get(root)!) as { data: CID }).data
      // MST.walk: a node, then its entries in order, each subtree walked where it sits.
      async function* walkOrder() {
        yield { cid: root, bytes: blocks.get(root)! }
        for await (const entry of MST.load(new MemoryBlockstore(blocks), data).walk()) {
          const cid = entry.isTree() ? await entry.getPointer() : entry.value
          yield { cid, bytes: blocks.get(cid)! }
        }
      }
      const expected: Uint8Array[] = []
      for await (const part of writeCarStream(root, walkOrder())) expected.push(part)
      assert.ok(Buffer.from(bytes).equals(Buffer.concat(expected)), 'the same bytes in the same order')
      assert.equal(blocks.size, blockCount)
    })

    it('streams through getRepo while memory stays flat', async (t) => {
      const live = () => {
        const m = process.memoryUsage()
        return m.heapUsed + m.arrayBuffers
      }
      // A first pass warms the JIT (compiled code counts as heap) so that the measured pass sees only data.
      const warm = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${big.did}`)
      for await (const _chunk of warm.body as unknown as AsyncIterable<Uint8Array>);
      gc()
      gc()
      const base = live()
      let peak = -Infinity
      let received = 0
      let nextSample = 0
      // node:http rather than fetch: its response stream pauses the socket at once, so the client buffers little.
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${big.did}`, resolve).once('error', reject)
      })
      assert.equal(res.statusCode, 200)
      async function* metered() {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          received += chunk.length
          if (received >= nextSample) {
            gc()
            peak = Math.max(peak, live() - base)
            nextSample += 2_000_000
          }
          yield chunk
        }
      }
      const { roots, blocks } = await readCarStream(metered())
      let count = 0
      for await (const _block of blocks) count += 1
      assert.equal(roots[0].toString(), pds.ctx.repo.root(big.did)!.cid.toString())
      assert.equal(count, blockCount, 'every stored block, once')
      assert.ok(received > blockBytes && received > 15_000_000, `CAR of ${received} bytes`)
      t.diagnostic(`CAR ${received} bytes, ${count} blocks; peak live-memory growth ${peak} bytes`)
      assert.ok(peak < received / 4, `live memory grew by ${peak} bytes while streaming ${received} bytes`)
    })

    it('a client that disconnects stops the read, and the server carries on', async (t) => {
      const errors: unknown[] = []
      const logError = pds.ctx.log.error.bind(pds.ctx.log)
      pds.ctx.log.error = ((...args: unknown[]) => errors.push(args)) as typeof pds.ctx.log.error
      try {
        const closed = new Promise<CarStreamInfo>((resolve) => {
          const onClose = (info: CarStreamInfo) => {
            if (info.did !== big.did) return
            carStreams.off('close', onClose)
            resolve(info)
          }
          carStreams.on('close', onClose)
        })
        const abort = new AbortController()
        const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${big.did}`, { signal: abort.signal })
        const reader = res.body!.getReader()
        assert.ok((await reader.read()).value!.length > 0)
        abort.abort()
        const info = await closed
        t.diagnostic(`stream closed after ${info.blocks} of ${blockCount} blocks`)
        assert.equal(info.complete, false)
        assert.ok(info.blocks < blockCount, `stopped after ${info.blocks} of ${blockCount} blocks`)
        const after = await xrpc(pds, 'com.atproto.sync.getLatestCommit', { query: { did: big.did } })
        assert.equal(after.status, 200)
        // A swallowed or logged failure of the aborted request happens in the microtasks after its stream closed,
        // long before this later request has been answered.
        assert.deepEqual(errors, [])
      } finally {
        pds.ctx.log.error = logError
      }
    })

    it('a write during a stream does not tear it: the export is the commit it started from', async () => {
      const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${big.did}`)
      const root = pds.ctx.repo.root(big.did)!.cid.toString()
      const chunks: Uint8Array[] = []
      const reader = res.body!.getReader()
      chunks.push((await reader.read()).value!)
      // Deleting records removes MST nodes the stream has not reached yet.
      const rkeys = (pds.db.prepare(`SELECT rkey FROM record WHERE did = ? ORDER BY rkey DESC LIMIT 150`).pluck().all(big.did)) as string[]
      await big.agent.com.atproto.repo.applyWrites({
        repo: big.did,
        writes: rkeys.map((rkey) => ({ $type: 'com.atproto.repo.applyWrites#delete' as const, collection: 'com.example.filler', rkey })),
      })
      assert.notEqual(pds.ctx.repo.root(big.did)!.cid.toString(), root)
      // No snapshot is held: the blocks the write removed are kept aside for the running export.
      assert.ok((pds.db.prepare('SELECT count(*) FROM temp.repo_block_retired').pluck().get() as number) > 0)
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        chunks.push(value)
      }
      const verified = await verifyRepoCar(Buffer.concat(chunks), big.did, await signingDidKey(pds, big.did))
      assert.equal(verified.commit.cid.toString(), root)
      assert.equal(verified.creates.length, 10_000)
    })
  })

  it('with PDS_FEDERATION_CRAWL_ENABLED=false the sync reads answer as unknown methods; getBlob stays', async () => {
    const closed = await startPds({ plcUrl: plc.url, env: { PDS_FEDERATION_CRAWL_ENABLED: 'false' } })
    try {
      const carol = await createUser(closed)
      for (const [nsid, query] of [
        ['com.atproto.sync.getRepo', { did: carol.did }],
        ['com.atproto.sync.getLatestCommit', { did: carol.did }],
        ['com.atproto.sync.listRepos', {}],
        ['com.atproto.sync.getRepoStatus', { did: carol.did }],
        ['com.atproto.sync.listBlobs', { did: carol.did }],
      ] as const) {
        const res = await xrpc(closed, nsid, { query })
        assert.equal(res.status, 501, nsid)
        assert.equal(res.body.error, 'MethodNotImplemented')
      }
      // Writes are unaffected, and blobs stay served: apps load images through getBlob.
      const up = await carol.agent.com.atproto.repo.uploadBlob(new Uint8Array([9, 9, 9]), { encoding: 'image/png' })
      await carol.agent.com.atproto.repo.createRecord({
        repo: carol.did,
        collection: 'app.bsky.feed.post',
        record: { ...post('still here'), embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: up.data.blob }] } },
      })
      const blob = await fetch(`${closed.url}/xrpc/com.atproto.sync.getBlob?did=${carol.did}&cid=${up.data.blob.ref.toString()}`)
      assert.equal(blob.status, 200)
      assert.deepEqual([...new Uint8Array(await blob.arrayBuffer())], [9, 9, 9])
    } finally {
      await closed.destroy()
    }
  })

  it('bad input gets a 4xx XRPC error, never a 5xx', async () => {
    const did = alice.did
    const unknownDid = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    const someCid = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'
    const cases: [string, string, Record<string, string>, number, string][] = [
      ['getRepo without did', 'getRepo', {}, 400, 'InvalidRequest'],
      ['getRepo malformed did', 'getRepo', { did: 'not-a-did' }, 400, 'InvalidRequest'],
      ['getRepo handle for did', 'getRepo', { did: alice.handle }, 400, 'InvalidRequest'],
      ['getRepo unknown did', 'getRepo', { did: unknownDid }, 400, 'RepoNotFound'],
      ['getRepo malformed since', 'getRepo', { did, since: 'yesterday' }, 400, 'InvalidRequest'],
      ['getCheckout unknown did', 'getCheckout', { did: unknownDid }, 400, 'RepoNotFound'],
      ['getLatestCommit unknown did', 'getLatestCommit', { did: unknownDid }, 400, 'RepoNotFound'],
      ['getHead malformed did', 'getHead', { did: 'did:' }, 400, 'InvalidRequest'],
      ['getRepoStatus unknown did', 'getRepoStatus', { did: unknownDid }, 400, 'RepoNotFound'],
      ['getRecord bad collection', 'getRecord', { did, collection: 'not an nsid', rkey: 'self' }, 400, 'InvalidRequest'],
      ['getRecord bad rkey', 'getRecord', { did, collection: 'app.bsky.feed.post', rkey: '..' }, 400, 'InvalidRequest'],
      ['getRecord missing rkey', 'getRecord', { did, collection: 'app.bsky.feed.post' }, 400, 'InvalidRequest'],
      ['getRecord unknown did', 'getRecord', { did: unknownDid, collection: 'app.bsky.feed.post', rkey: 'self' }, 400, 'RepoNotFound'],
      ['getBlocks without cids', 'getBlocks', { did }, 400, 'InvalidRequest'],
      ['getBlocks malformed cid', 'getBlocks', { did, cids: 'bafy-nope' }, 400, 'InvalidRequest'],
      ['getBlob malformed cid', 'getBlob', { did, cid: '12345' }, 400, 'InvalidRequest'],
      ['getBlob unknown cid', 'getBlob', { did, cid: someCid }, 404, 'BlobNotFound'],
      ['getBlob unknown did', 'getBlob', { did: unknownDid, cid: someCid }, 400, 'RepoNotFound'],
      ['listBlobs limit 0', 'listBlobs', { did, limit: '0' }, 400, 'InvalidRequest'],
      ['listBlobs limit 1001', 'listBlobs', { did, limit: '1001' }, 400, 'InvalidRequest'],
      ['listBlobs limit text', 'listBlobs', { did, limit: 'many' }, 400, 'InvalidRequest'],
      ['listBlobs bogus cursor', 'listBlobs', { did, cursor: '%%%' }, 400, 'InvalidRequest'],
      ['listBlobs malformed since', 'listBlobs', { did, since: '1' }, 400, 'InvalidRequest'],
      ['listRepos limit 0', 'listRepos', { limit: '0' }, 400, 'InvalidRequest'],
      ['listRepos limit 1001', 'listRepos', { limit: '1001' }, 400, 'InvalidRequest'],
      ['listRepos limit fraction', 'listRepos', { limit: '1.5' }, 400, 'InvalidRequest'],
      ['listRepos bogus cursor', 'listRepos', { cursor: 'abc' }, 400, 'InvalidRequest'],
      ['listRepos cursor without did', 'listRepos', { cursor: '123::' }, 400, 'InvalidRequest'],
      ['listRepos cursor out of range', 'listRepos', { cursor: `999999999999999::${did}` }, 400, 'InvalidRequest'],
    ]
    for (const [name, method, query, status, error] of cases) {
      const res = await xrpc(pds, `com.atproto.sync.${method}`, { query })
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.error, error, name)
      assert.equal(typeof res.body.message, 'string', name)
    }
    const twice = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${did}&did=${did}`)
    assert.equal(twice.status, 400)
    const missingBlobsAnon = await xrpc(pds, 'com.atproto.repo.listMissingBlobs', {})
    assert.equal(missingBlobsAnon.status, 401)
    const missingBlobsLimit = await xrpc(pds, 'com.atproto.repo.listMissingBlobs', {
      query: { limit: '0' },
      headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}` },
    })
    assert.equal(missingBlobsLimit.status, 400)
    const badSession = await xrpc(pds, 'com.atproto.sync.getRepo', { query: { did }, headers: { authorization: 'Bearer nope' } })
    assert.equal(badSession.status, 200, 'an active repo is public: bad credentials do not matter')
  })
})
