// applyWrites applies a batch's writes in order, as one commit. Every order of writes to one record (and two records
// interleaved) is sent as one batch to one account and one write at a time to another: both must end with the same
// records, the same results and the same MST. Every accepted batch's #commit, read from subscribeRepos, must pass
// @atproto/sync's verification and invert onto prevData in any op order; refused batches must write nothing.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { TID } from '@atproto/common-web'
import { IdResolver } from '@atproto/identity'
import { MemoryBlockstore, MST, readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import * as cbor from '@ipld/dag-cbor'
import type { BlobRef, ComAtprotoRepoApplyWrites } from '@atproto/api'
import { parseCommitAuthenticated } from '@atproto/sync'
import { CID } from 'multiformats/cid'
import { FirehoseClient, type Frame } from './helpers/firehose-client.ts'
import { createUser, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'
import type { TestPlc } from './helpers/plc.ts'
import { checkCommitEvent, signingDidKey } from './helpers/repo-check.ts'

type User = Awaited<ReturnType<typeof createUser>>
type Write = ComAtprotoRepoApplyWrites.InputSchema['writes'][number]
type Result = NonNullable<ComAtprotoRepoApplyWrites.OutputSchema['results']>[number]

const NS = 'com.atproto.repo.applyWrites'
const POST = 'app.bsky.feed.post'
// A fixed createdAt: the same text gives the same record CID in both accounts.
const post = (text: string, image?: BlobRef) => ({
  $type: POST,
  text,
  createdAt: '2025-01-01T00:00:00.000Z',
  ...(image ? { embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image }] } } : {}),
})
const create = (rkey: string, text: string, image?: BlobRef): Write => ({ $type: `${NS}#create`, collection: POST, rkey, value: post(text, image) })
const update = (rkey: string, text: string, image?: BlobRef): Write => ({ $type: `${NS}#update`, collection: POST, rkey, value: post(text, image) })
const del = (rkey: string): Write => ({ $type: `${NS}#delete`, collection: POST, rkey })

/** An op as [action, path, cid, prev], CIDs as strings ('' when absent). */
type OpRow = [string, string, string, string]
const opRows = (ops: any[]): OpRow[] => ops.map((o) => [o.action, o.path, o.cid?.toString() ?? '', o.prev?.toString() ?? ''])

/** Undo the ops in indigo's order (deletions first, then by path), as a relay does after refusing duplicate paths. */
async function invertNormalized(body: any, data: CID): Promise<CID> {
  const car = await readCarWithRoot(body.blocks)
  const ops = [...body.ops].sort((a, b) => Number(b.action === 'delete') - Number(a.action === 'delete') || (a.path < b.path ? -1 : 1))
  let mst = MST.load(new MemoryBlockstore(car.blocks), data)
  for (const op of ops) {
    if (op.action === 'create') mst = await mst.delete(op.path)
    else if (op.action === 'update') mst = await mst.update(op.path, op.prev)
    else mst = await mst.add(op.path, op.prev)
  }
  return CID.asCID(await mst.getPointer())!
}

describe('applyWrites: a batch is its writes in order, in one commit', () => {
  let plc: TestPlc
  let pds: TestPds
  let batched: User
  let serial: User
  let firehose: FirehoseClient
  let idResolver: IdResolver
  let key: string

  before(async () => {
    ;({ plc, pds } = await startServers())
    batched = await createUser(pds)
    serial = await createUser(pds)
    firehose = await FirehoseClient.connect(pds)
    idResolver = new IdResolver({ plcUrl: plc.url, fetch: globalThis.fetch })
    key = await signingDidKey(pds, batched.did)
  })
  after(async () => {
    firehose?.close()
    await stopServers({ plc, pds })
  })

  const auth = (user: User) => ({ authorization: `Bearer ${user.agent.session!.accessJwt}` })
  /** Results with the account's DID taken out of their URIs, to compare the two accounts. */
  const sansDid = (results: Result[], did: string) => JSON.parse(JSON.stringify(results).replaceAll(did, 'DID'))

  /** The #commit frame of commit `cid`, from the firehose (bounded wait). */
  async function commitFrame(cid: string): Promise<Frame> {
    const find = () => firehose.events.find((f) => f.header.t === '#commit' && CID.asCID(f.body.commit)?.toString() === cid)
    await firehose.until(() => find() !== undefined, `the #commit of ${cid}`)
    return find()!
  }

  /** Both accounts' seeded record `rkey` (created one write at a time, outside any batch); returns its CID. */
  async function seed(rkey: string, text: string): Promise<string> {
    const cids = await Promise.all(
      [batched, serial].map(async (user) => {
        const res = await user.agent.com.atproto.repo.createRecord({ repo: user.did, collection: POST, rkey, record: post(text) })
        return res.data.cid
      }),
    )
    assert.equal(cids[0], cids[1])
    return cids[0]
  }

  /**
   * `writes` as one applyWrites to `batched`, and one by one to `serial`. Checks that the results match the one-by-one
   * results, and that the #commit verifies: signature, one op per path, @atproto/sync's proof check of every op,
   * inversion onto prevData in reverse and in indigo's order. Returns the response and the event's ops.
   */
  async function both(writes: Write[], opts: { swapCommit?: string } = {}) {
    const before = pds.ctx.repo.root(batched.did)!
    const res = await batched.agent.com.atproto.repo.applyWrites({ repo: batched.did, writes, swapCommit: opts.swapCommit })
    const one: Result[] = []
    for (const w of writes) {
      const r = await serial.agent.com.atproto.repo.applyWrites({ repo: serial.did, writes: [w] })
      one.push(...r.data.results!)
    }
    const results = res.data.results!
    assert.deepEqual(
      results.map((r) => r.$type),
      writes.map((w) => `${w.$type}Result`),
      'one result per write, in order',
    )
    assert.deepEqual(sansDid(results, batched.did), sansDid(one, serial.did), 'the results the writes get one by one')

    assert.ok(res.data.commit, 'a commit')
    const root = pds.ctx.repo.root(batched.did)!
    assert.equal(res.data.commit.cid, root.cid.toString())
    const { body } = await commitFrame(res.data.commit.cid)
    assert.equal(body.repo, batched.did)
    assert.equal(body.rev, res.data.commit.rev)
    assert.equal(body.since, before.rev)
    const paths = body.ops.map((o: any) => o.path)
    assert.equal(new Set(paths).size, paths.length, 'each path once')
    for (const o of body.ops) {
      if (o.action === 'create') assert.ok(CID.asCID(o.cid) && o.prev === undefined, 'create: cid, no prev')
      else if (o.action === 'update') assert.ok(CID.asCID(o.cid) && CID.asCID(o.prev) && !o.cid.equals(o.prev), 'update: cid ≠ prev')
      else assert.ok(o.action === 'delete' && o.cid === null && CID.asCID(o.prev), 'delete: cid null, prev')
    }
    await checkCommitEvent(body, key)
    const car = await readCarWithRoot(body.blocks)
    const data = (cbor.decode(car.blocks.get(car.root)!) as { data: CID }).data
    assert.ok((await invertNormalized(body, data)).equals(body.prevData), 'inverts onto prevData in indigo order')
    // @atproto/sync drops any op its proof check cannot verify: every op must come through, with its record.
    const verified = await parseCommitAuthenticated(idResolver, body)
    assert.deepEqual(
      verified.map((e) => [e.event, `${e.collection}/${e.rkey}`, 'cid' in e ? e.cid.toString() : '']),
      opRows(body.ops).map(([action, path, cid]) => [action, path, cid]),
    )
    for (const e of verified) if (e.event !== 'delete') assert.equal((e.record as { $type: string }).$type, POST)
    return { res, ops: opRows(body.ops) as OpRow[] }
  }

  /** The records at `rkeys` in both accounts: they must agree; returns rkey → text (null: absent). */
  async function sameRecords(rkeys: string[]): Promise<Record<string, string | null>> {
    const read = async (user: User) => {
      const list = await user.agent.com.atproto.repo.listRecords({ repo: user.did, collection: POST, limit: 100 })
      const byRkey = new Map(list.data.records.map((r) => [r.uri.split('/').pop()!, r]))
      return Object.fromEntries(
        rkeys.map((rkey) => {
          const r = byRkey.get(rkey)
          return [rkey, r ? { cid: r.cid, value: r.value } : null]
        }),
      )
    }
    const [mine, theirs] = [await read(batched), await read(serial)]
    assert.deepEqual(mine, theirs, 'the same records as the writes one by one')
    return Object.fromEntries(Object.entries(mine).map(([rkey, r]) => [rkey, r ? (r.value as { text: string }).text : null]))
  }

  const path = (rkey: string) => `${POST}/${rkey}`

  it('create → delete: nothing left; still a commit, with no ops', async () => {
    const x = TID.nextStr()
    const { res, ops } = await both([create(x, 'x1'), del(x)])
    assert.deepEqual(Object.keys(res.data.results![0]).sort(), ['$type', 'cid', 'uri', 'validationStatus'])
    assert.deepEqual(Object.keys(res.data.results![1]), ['$type'])
    assert.deepEqual(ops, [])
    assert.deepEqual(await sameRecords([x]), { [x]: null })
  })

  it('create → update: one create with the final record', async () => {
    const x = TID.nextStr()
    const { res, ops } = await both([create(x, 'x1'), update(x, 'x2')])
    const [created, updated] = res.data.results! as ComAtprotoRepoApplyWrites.CreateResult[]
    assert.notEqual(created.cid, updated.cid)
    assert.deepEqual(ops, [['create', path(x), updated.cid, '']])
    assert.deepEqual(await sameRecords([x]), { [x]: 'x2' })
  })

  it('update → delete of an existing record: one delete of the record as it was before the batch', async () => {
    const x = TID.nextStr()
    const original = await seed(x, 'x0')
    const { ops } = await both([update(x, 'x1'), del(x)])
    assert.deepEqual(ops, [['delete', path(x), '', original]])
    assert.deepEqual(await sameRecords([x]), { [x]: null })
  })

  it('delete → create of an existing record: one update from the old record', async () => {
    const x = TID.nextStr()
    const original = await seed(x, 'x0')
    const { res, ops } = await both([del(x), create(x, 'x1')])
    const created = res.data.results![1] as ComAtprotoRepoApplyWrites.CreateResult
    assert.deepEqual(ops, [['update', path(x), created.cid, original]])
    assert.deepEqual(await sameRecords([x]), { [x]: 'x1' })
  })

  it('create → update → delete: nothing left, no ops', async () => {
    const x = TID.nextStr()
    const { ops } = await both([create(x, 'x1'), update(x, 'x2'), del(x)])
    assert.deepEqual(ops, [])
    assert.deepEqual(await sameRecords([x]), { [x]: null })
  })

  it('delete → create → update → delete → create of an existing record: one update to the last record', async () => {
    const x = TID.nextStr()
    const original = await seed(x, 'x0')
    const { res, ops } = await both([del(x), create(x, 'x1'), update(x, 'x2'), del(x), create(x, 'x3')])
    const last = res.data.results![4] as ComAtprotoRepoApplyWrites.CreateResult
    assert.deepEqual(ops, [['update', path(x), last.cid, original]])
    assert.deepEqual(await sameRecords([x]), { [x]: 'x3' })
  })

  it('delete → create with the same content: the record is as it was; a commit with no ops', async () => {
    const x = TID.nextStr()
    const original = await seed(x, 'x0')
    const { ops } = await both([del(x), create(x, 'x0')])
    assert.deepEqual(ops, [])
    assert.deepEqual(await sameRecords([x]), { [x]: 'x0' })
    assert.equal(pds.ctx.repo.readRecord(batched.did, POST, x)!.cid, original)
  })

  it('two records interleaved: one net op each, in the order first written', async () => {
    const x = TID.nextStr()
    const y = TID.nextStr()
    const z = TID.nextStr()
    const originalX = await seed(x, 'x0')
    await seed(y, 'y0')
    const { res, ops } = await both([
      update(x, 'x1'),
      create(z, 'z1'),
      del(y),
      del(x),
      update(z, 'z2'),
      create(x, 'x2'),
      create(y, 'y0'),
      del(z),
      update(x, 'x3'),
    ])
    const finalX = res.data.results![8] as ComAtprotoRepoApplyWrites.UpdateResult
    // y ends as it began (same content), z was created and deleted: only x changed.
    assert.deepEqual(ops, [['update', path(x), finalX.cid, originalX]])
    assert.deepEqual(await sameRecords([x, y, z]), { [x]: 'x3', [y]: 'y0', [z]: null })

    const a = TID.nextStr()
    const b = TID.nextStr()
    const second = await both([create(a, 'a1'), create(b, 'b1'), update(a, 'a2'), del(b), update(a, 'a3'), create(b, 'b2')])
    const results = second.res.data.results! as ComAtprotoRepoApplyWrites.CreateResult[]
    assert.deepEqual(second.ops, [
      ['create', path(a), results[4].cid, ''],
      ['create', path(b), results[5].cid, ''],
    ])
    assert.deepEqual(await sameRecords([a, b]), { [a]: 'a3', [b]: 'b2' })
  })

  it('a record moved to another key (delete, then create with the same content): the event carries its block', async () => {
    const from = TID.nextStr()
    const to = TID.nextStr()
    const cid = await seed(from, 'moving')
    const { ops } = await both([del(from), create(to, 'moving')])
    assert.deepEqual(ops, [
      ['delete', path(from), '', cid],
      ['create', path(to), cid, ''],
    ])
    assert.deepEqual(await sameRecords([from, to]), { [from]: null, [to]: 'moving' })
  })

  it("blobs: those a batch's records end with are linked; those only replaced or deleted records used are gone", async () => {
    const upload = async (user: User, n: number) =>
      (await user.agent.com.atproto.repo.uploadBlob(new Uint8Array(100).fill(n), { encoding: 'image/png' })).data.blob
    const blobs = await Promise.all([batched, serial].map(async (u) => [await upload(u, 1), await upload(u, 2), await upload(u, 3)]))
    const [b1, b2, b3] = blobs[0]
    const x = TID.nextStr()
    const y = TID.nextStr()
    const z = TID.nextStr()
    // Same bytes, same CIDs in both accounts: the writes are the same for both.
    assert.deepEqual(blobs[1].map((b) => b.ref.toString()), [b1, b2, b3].map((b) => b.ref.toString()))
    await both([create(x, 'x', b1), create(y, 'y', b2), create(z, 'z', b3), update(x, 'x', b2), del(y), del(z)])
    for (const user of [batched, serial]) {
      const listed = await user.agent.com.atproto.sync.listBlobs({ did: user.did })
      assert.ok(listed.data.cids.includes(b2.ref.toString()), 'b2 (x ends with it) is listed')
      for (const gone of [b1, b3]) {
        assert.ok(!listed.data.cids.includes(gone.ref.toString()))
        assert.equal(pds.ctx.blobs.get(user.did, gone.ref.toString()), undefined, `${gone.ref} deleted`)
      }
      assert.ok(pds.ctx.blobs.isReferenced(user.did, b2.ref.toString()))
    }
    assert.deepEqual(await sameRecords([x, y, z]), { [x]: 'x', [y]: null, [z]: null })
  })

  it('swaps: swapCommit holds for the whole batch; swapRecord afterwards sees the final record', async () => {
    const x = TID.nextStr()
    const root = pds.ctx.repo.root(batched.did)!.cid.toString()
    const { res } = await both([create(x, 'x1'), update(x, 'x2')], { swapCommit: root })
    const [first, last] = res.data.results! as ComAtprotoRepoApplyWrites.CreateResult[]
    const stale = await xrpc(pds, 'com.atproto.repo.putRecord', {
      headers: auth(batched),
      body: { repo: batched.did, collection: POST, rkey: x, record: post('x3'), swapRecord: first.cid },
    })
    assert.equal(stale.status, 400)
    assert.equal(stale.body.error, 'InvalidSwap')
    for (const user of [batched, serial]) {
      const put = await user.agent.com.atproto.repo.putRecord({ repo: user.did, collection: POST, rkey: x, record: post('x3'), swapRecord: last.cid })
      assert.ok(put.data.commit)
      await checkCommitEvent((await commitFrame(put.data.commit.cid)).body, await signingDidKey(pds, user.did))
    }
    assert.deepEqual(await sameRecords([x]), { [x]: 'x3' })
  })

  it('an identical update commits nothing', async () => {
    const x = TID.nextStr()
    await seed(x, 'x0')
    const seq = pds.ctx.sequencer.latestSeq()
    const res = await batched.agent.com.atproto.repo.applyWrites({ repo: batched.did, writes: [update(x, 'x0')] })
    assert.equal(res.data.commit, undefined)
    assert.deepEqual(res.data.results!.map((r) => r.$type), [`${NS}#updateResult`])
    assert.equal(pds.ctx.sequencer.latestSeq(), seq)
  })

  describe('refused batches write nothing', () => {
    const x = TID.nextStr()
    const fresh = TID.nextStr()
    const fakeBlob = { $type: 'blob', ref: { $link: 'bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hp4' }, mimeType: 'image/png', size: 10 }
    before(async () => {
      await seed(x, 'x0')
    })

    const cases: [string, () => Record<string, unknown>, string][] = [
      ['delete of a missing record', () => ({ writes: [create(fresh, 'f'), del(TID.nextStr())] }), 'InvalidRequest'],
      ['delete of a record deleted earlier in the batch', () => ({ writes: [del(x), del(x)] }), 'InvalidRequest'],
      ['create of an existing record', () => ({ writes: [create(x, 'x1')] }), 'InvalidRequest'],
      ['create of a record created earlier in the batch', () => ({ writes: [create(fresh, 'f1'), create(fresh, 'f2')] }), 'InvalidRequest'],
      ['update of a record deleted earlier in the batch', () => ({ writes: [del(x), update(x, 'x1')] }), 'InvalidRequest'],
      ['update of a missing record', () => ({ writes: [update(fresh, 'f')] }), 'InvalidRequest'],
      [
        'a missing blob in a write a later write deletes',
        () => ({ writes: [{ ...create(fresh, 'f'), value: { ...post('f'), embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: fakeBlob }] } } }, del(fresh)] }),
        'BlobNotFound',
      ],
      [
        'a stale swapCommit',
        () => ({ writes: [create(fresh, 'f'), del(fresh)], swapCommit: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454' }),
        'InvalidSwap',
      ],
    ]
    for (const [name, body, error] of cases) {
      it(name, async () => {
        const rootBefore = pds.ctx.repo.root(batched.did)!.cid.toString()
        const seqBefore = pds.ctx.sequencer.latestSeq()
        const recordsBefore = await batched.agent.com.atproto.repo.listRecords({ repo: batched.did, collection: POST, limit: 100 })
        const res = await xrpc(pds, `${NS}`, { headers: auth(batched), body: { repo: batched.did, ...body() } })
        assert.equal(res.status, 400, JSON.stringify(res.body))
        assert.equal(res.body.error, error, JSON.stringify(res.body))
        assert.equal(pds.ctx.repo.root(batched.did)!.cid.toString(), rootBefore, 'root unchanged')
        assert.equal(pds.ctx.sequencer.latestSeq(), seqBefore, 'no event')
        const recordsAfter = await batched.agent.com.atproto.repo.listRecords({ repo: batched.did, collection: POST, limit: 100 })
        assert.deepEqual(recordsAfter.data.records, recordsBefore.data.records, 'records unchanged')
      })
    }
  })

  it('the final repos verify against the DID key and hold the same records and the same MST', async () => {
    const repos = await Promise.all(
      [batched, serial].map(async (user) => {
        const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${user.did}`)
        assert.equal(res.status, 200)
        const bytes = new Uint8Array(await res.arrayBuffer())
        const verified = await verifyRepoCar(bytes, user.did, await signingDidKey(pds, user.did))
        const car = await readCarWithRoot(bytes)
        const inCar = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
        const list = await user.agent.com.atproto.repo.listRecords({ repo: user.did, collection: POST, limit: 100 })
        assert.deepEqual(new Map(list.data.records.map((r) => [`${POST}/${r.uri.split('/').pop()}`, r.cid])), inCar, 'index = repo')
        return { inCar, data: (cbor.decode(car.blocks.get(car.root)!) as { data: CID }).data.toString() }
      }),
    )
    assert.ok(repos[0].inCar.size >= 8)
    assert.deepEqual(repos[0].inCar, repos[1].inCar, 'the same records')
    assert.equal(repos[0].data, repos[1].data, 'the same MST root')
  })
})
