// The public MST and data-model vectors (test/fixtures/interop) through our storage and record pipeline.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { MST, mstUtil } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { openDatabase, type Db } from '../src/db/index.ts'
import { encodeRecordJson } from '../src/repo/prepare.ts'
import { RepoBlockStatements, SqlRepoStorage } from '../src/repo/sql-storage.ts'
import { interopJson, interopText } from './helpers/fixtures.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, xrpc, type TestPds } from './helpers/pds.ts'

const json = interopJson

const LEAF = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454')
// Known roots from the indigo interop tests (PROTOCOL.md §2.3), all with the record CID above.
const KNOWN_TREES: [string[], string][] = [
  [[], 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'],
  [['com.example.record/3jqfcqzm3fo2j'], 'bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu'],
  [['com.example.record/3jqfcqzm3fx2j'], 'bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai'],
  [
    ['3fp2j', '3fr2j', '3fs2j', '3ft2j', '4fc2j'].map((s) => `com.example.record/3jqfcqzm${s}`),
    'bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m',
  ],
]

describe('interop vectors: MST over our SQLite block store', () => {
  let dir: string
  let db: Db
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-mst-'))
    db = openDatabase(path.join(dir, 'pds.sqlite'))
  })
  after(() => {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('key heights match', async () => {
    for (const { key, height } of json<{ key: string; height: number }[]>('mst/key_heights.json')) {
      assert.equal(await mstUtil.leadingZerosOnHash(key), height, key) // the library returns the layer (zero bits ÷ 2)
    }
  })

  it('known trees have their known roots, and survive a round trip through SQLite', async () => {
    const stmts = new RepoBlockStatements(db)
    for (const [i, [keys, root]] of KNOWN_TREES.entries()) {
      const storage = new SqlRepoStorage(stmts, `did:example:tree${i}`)
      let mst = await MST.create(storage)
      for (const key of keys) mst = await mst.add(key, LEAF)
      assert.equal((await mst.getPointer()).toString(), root, `tree ${i}`)
      const { blocks } = await mst.getUnstoredBlocks()
      await storage.putMany(blocks, 'rev0')
      const reloaded = MST.load(storage, CID.parse(root))
      const leaves = await reloaded.list()
      assert.deepEqual(leaves.map((l) => l.key), [...keys].sort())
      assert.ok(leaves.every((l) => l.value.equals(LEAF)))
    }
  })

  it('the example key set builds the same root whatever the insertion order', async () => {
    const keys = interopText('mst/example_keys.txt').split('\n').filter(Boolean).slice(0, 200)
    const stmts = new RepoBlockStatements(db)
    const build = async (order: string[], did: string) => {
      let mst = await MST.create(new SqlRepoStorage(stmts, did))
      for (const key of order) mst = await mst.add(key, LEAF)
      return (await mst.getPointer()).toString()
    }
    const forward = await build(keys, 'did:example:fwd')
    const backward = await build([...keys].reverse(), 'did:example:bwd')
    assert.equal(forward, backward)
  })
})

describe('interop vectors: data model', () => {
  it('fixtures encode to the same DAG-CBOR bytes and CID as a record write would store', async () => {
    type Fixture = { json: unknown; cbor_base64: string; cid: string }
    for (const f of json<Fixture[]>('data-model/data-model-fixtures.json')) {
      const { bytes, cid } = await encodeRecordJson(f.json)
      assert.equal(Buffer.from(bytes).toString('base64').replace(/=+$/, ''), f.cbor_base64.replace(/=+$/, ''))
      assert.equal(cid.toString(), f.cid)
    }
  })

  describe('records through createRecord', () => {
    let plc: TestPlc
    let pds: TestPds
    let user: Awaited<ReturnType<typeof createUser>>
    before(async () => {
      plc = await startPlc()
      pds = await startPds({ plcUrl: plc.url })
      user = await createUser(pds)
    })
    after(async () => {
      await pds?.destroy()
      await plc?.close()
    })
    type Case = { note: string; json: { rcrd?: Record<string, unknown> } | string }
    const write = (record: unknown) =>
      xrpc(pds, 'com.atproto.repo.createRecord', {
        headers: { authorization: `Bearer ${user.agent.session!.accessJwt}` },
        body: { repo: user.did, collection: 'com.example.blah', record },
      })

    it('valid records are accepted', async () => {
      for (const c of json<Case[]>('data-model/data-model-valid.json')) {
        if (typeof c.json !== 'object' || !c.json.rcrd) continue
        const res = await write(c.json.rcrd)
        assert.equal(res.status, 200, `${c.note}: ${JSON.stringify(res.body)}`)
      }
    })

    it('invalid records are refused with 400 and nothing is written', async () => {
      const seq = pds.ctx.sequencer.latestSeq()
      let tried = 0
      for (const c of json<Case[]>('data-model/data-model-invalid.json')) {
        // Cases without a record put their value in one: a malformed $link/$bytes must be refused anywhere in it.
        const record = typeof c.json !== 'object' ? c.json : (c.json.rcrd ?? { $type: 'com.example.blah', ...c.json })
        tried += 1
        const res = await write(record)
        assert.equal(res.status, 400, `${c.note}: ${JSON.stringify(res.body)}`)
      }
      assert.ok(tried >= 10)
      assert.equal(pds.ctx.sequencer.latestSeq(), seq)
    })
  })
})
