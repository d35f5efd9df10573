// Records, swaps, validation, blobs and the event log, through AtpAgent against a real server and PLC directory.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { TID } from '@atproto/common-web'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { checkCommitEvent, events, signingDidKey, verifyStoredRepo } from './helpers/repo-check.ts'

const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })

describe('repository writes', () => {
  let plc: TestPlc
  let pds: TestPds
  let alice: Awaited<ReturnType<typeof createUser>>

  before(async () => {
    plc = await startPlc()
    pds = await startPds({ plcUrl: plc.url })
    alice = await createUser(pds)
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  it('account creation stores a signed empty commit and sequences #identity, #account, #commit, #sync', async () => {
    const bob = await createUser(pds)
    const mine = events(pds).filter((e) => (e.body.did ?? e.body.repo) === bob.did)
    assert.deepEqual(mine.map((e) => e.type), ['#identity', '#account', '#commit', '#sync'])
    assert.equal(mine[0].body.handle, bob.handle)
    assert.equal(mine[1].body.active, true)
    const root = pds.ctx.repo.root(bob.did)!
    assert.ok(mine[2].body.commit.equals(root.cid))
    assert.equal(mine[2].body.since, null)
    assert.deepEqual(mine[2].body.ops, [])
    assert.equal(mine[3].body.rev, root.rev)
    await checkCommitEvent(mine[2].body, await signingDidKey(pds, bob.did))
    const verified = await verifyStoredRepo(pds, bob.did)
    assert.equal(verified.creates.length, 0)
  })

  it('create, get, list, put, delete a record', async () => {
    const { agent, did } = alice
    const created = await agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: post('hello') })
    assert.equal(created.data.validationStatus, 'valid')
    assert.match(created.data.uri, new RegExp(`^at://${did}/app.bsky.feed.post/[2-7a-z]{13}$`))
    assert.equal(created.data.commit!.cid, pds.ctx.repo.root(did)!.cid.toString())
    const rkey = created.data.uri.split('/').pop()!

    const got = await agent.com.atproto.repo.getRecord({ repo: alice.handle, collection: 'app.bsky.feed.post', rkey })
    assert.equal(got.data.cid, created.data.cid)
    assert.equal((got.data.value as any).text, 'hello')

    const put = await agent.com.atproto.repo.putRecord({
      repo: did,
      collection: 'app.bsky.feed.post',
      rkey,
      record: post('hello, edited'),
      swapRecord: created.data.cid,
    })
    assert.notEqual(put.data.cid, created.data.cid)
    const list = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post' })
    assert.deepEqual(list.data.records.map((r) => [r.uri, r.cid]), [[created.data.uri, put.data.cid]])

    await agent.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey })
    const gone = await xrpc(pds, 'com.atproto.repo.getRecord', { query: { repo: did, collection: 'app.bsky.feed.post', rkey } })
    assert.equal(gone.status, 400)
    assert.equal(gone.body.error, 'RecordNotFound')
  })

  it('putRecord creates, and an identical put commits nothing', async () => {
    const { agent, did } = alice
    const record = { $type: 'app.bsky.actor.profile', displayName: 'Alice' }
    const first = await agent.com.atproto.repo.putRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record })
    const seq = pds.ctx.sequencer.latestSeq()
    const again = await agent.com.atproto.repo.putRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record })
    assert.equal(again.data.cid, first.data.cid)
    assert.equal(again.data.commit, undefined)
    assert.equal(pds.ctx.sequencer.latestSeq(), seq)
  })

  it('lists with limit, cursor and reverse', async () => {
    const { agent, did } = alice
    const rkeys = Array.from({ length: 7 }, () => TID.nextStr())
    await agent.com.atproto.repo.applyWrites({
      repo: did,
      writes: rkeys.map((rkey, i) => ({
        $type: 'com.atproto.repo.applyWrites#create',
        collection: 'com.example.thing',
        rkey,
        value: { $type: 'com.example.thing', n: i },
      })),
    })
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'com.example.thing', limit: 3, cursor })
      seen.push(...page.data.records.map((r) => r.uri.split('/').pop()!))
      cursor = page.data.cursor
    } while (cursor)
    assert.deepEqual(seen, [...rkeys].sort().reverse())
    const rev = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'com.example.thing', reverse: true, limit: 100 })
    assert.deepEqual(rev.data.records.map((r) => r.uri.split('/').pop()), [...rkeys].sort())
    const described = await agent.com.atproto.repo.describeRepo({ repo: did })
    assert.ok(described.data.collections.includes('com.example.thing'))
    assert.equal(described.data.handleIsCorrect, true)
  })

  it('applyWrites commits creates, updates and deletes as one commit with one event', async () => {
    const { agent, did } = alice
    const a = TID.nextStr()
    const b = TID.nextStr()
    await agent.com.atproto.repo.applyWrites({
      repo: did,
      writes: [a, b].map((rkey) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', rkey, value: post(rkey) })),
    })
    const before = pds.ctx.sequencer.latestSeq()
    const res = await agent.com.atproto.repo.applyWrites({
      repo: did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.feed.post', rkey: a, value: post('updated') },
        { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: b },
        { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.like', value: { $type: 'app.bsky.feed.like', subject: { uri: `at://${did}/app.bsky.feed.post/${a}`, cid: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454' }, createdAt: new Date().toISOString() } },
      ],
    })
    assert.deepEqual(res.data.results!.map((r) => r.$type), [
      'com.atproto.repo.applyWrites#updateResult',
      'com.atproto.repo.applyWrites#deleteResult',
      'com.atproto.repo.applyWrites#createResult',
    ])
    const evts = events(pds, before)
    assert.equal(evts.length, 1)
    assert.deepEqual(evts[0].body.ops.map((o: any) => o.action), ['update', 'delete', 'create'])
    assert.equal(evts[0].body.rev, res.data.commit!.rev)
  })

  it('every #commit event verifies and inverts onto prevData; the stored repo verifies', async () => {
    const didKey = await signingDidKey(pds, alice.did)
    const commits = events(pds).filter((e) => e.type === '#commit' && e.body.repo === alice.did)
    assert.ok(commits.length >= 6)
    let prevRev: string | null = null
    for (const e of commits) {
      assert.equal(e.body.since, prevRev, 'since is the previous rev')
      if (prevRev) assert.ok(e.body.rev > prevRev, 'rev increases')
      assert.equal(e.body.rebase, false)
      assert.equal(e.body.tooBig, false)
      assert.deepEqual(e.body.blobs, [])
      await checkCommitEvent(e.body, didKey)
      prevRev = e.body.rev
    }
    const verified = await verifyStoredRepo(pds, alice.did)
    const stored = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
    const indexed = pds.db.prepare('SELECT collection, rkey, cid FROM record WHERE did = ?').all(alice.did) as any[]
    assert.equal(stored.size, indexed.length)
    for (const r of indexed) assert.equal(stored.get(`${r.collection}/${r.rkey}`), r.cid)
  })

  it('uploads a blob and uses it in a post; an unknown blob is BlobNotFound', async () => {
    const { agent, did } = alice
    const bytes = new Uint8Array(5000).map((_, i) => (i * 7) % 256)
    const up = await agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'image/png' })
    assert.equal(up.data.blob.size, 5000)
    assert.equal(up.data.blob.mimeType, 'image/png')
    assert.match(up.data.blob.ref.toString(), /^bafkrei/)
    const withImage = {
      ...post('look'),
      embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'pattern', image: up.data.blob }] },
    }
    const created = await agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: withImage })
    assert.ok(pds.ctx.blobs.isReferenced(did, up.data.blob.ref.toString()))

    const fake = { ...up.data.blob.original, ref: { $link: 'bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hp4' } }
    const bad = await xrpc(pds, 'com.atproto.repo.createRecord', {
      headers: { authorization: `Bearer ${agent.session!.accessJwt}` },
      body: { repo: did, collection: 'app.bsky.feed.post', record: { ...post('x'), embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: fake }] } } },
    })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.error, 'BlobNotFound')

    // Deleting the only record that uses the blob deletes the blob.
    await agent.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: created.data.uri.split('/').pop()! })
    assert.equal(pds.ctx.blobs.get(did, up.data.blob.ref.toString()), undefined)
  })

  it('deletes uploads no record used within an hour, and keeps used ones', async () => {
    const { agent, did } = alice
    const unused = await agent.com.atproto.repo.uploadBlob(new Uint8Array([1, 2, 3]), { encoding: 'application/octet-stream' })
    const used = await agent.com.atproto.repo.uploadBlob(new Uint8Array([4, 5, 6, 7]), { encoding: 'image/jpeg' })
    await agent.com.atproto.repo.createRecord({
      repo: did,
      collection: 'app.bsky.feed.post',
      record: { ...post('kept'), embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: used.data.blob }] } },
    })
    const unusedCid = unused.data.blob.ref.toString()
    const usedCid = used.data.blob.ref.toString()
    assert.equal(await pds.ctx.blobStore.deleteStaleUploads(Date.now()), 0, 'nothing is stale yet')
    assert.ok(await pds.ctx.blobStore.exists(did, unusedCid))
    const deleted = await pds.ctx.blobStore.deleteStaleUploads(Date.now() + 2 * 60 * 60 * 1000)
    assert.ok(deleted >= 1)
    assert.equal(pds.ctx.blobs.get(did, unusedCid), undefined)
    assert.equal(await pds.ctx.blobStore.exists(did, unusedCid), false)
    assert.ok(pds.ctx.blobs.get(did, usedCid))
    assert.ok(await pds.ctx.blobStore.exists(did, usedCid))
  })

  it('refuses a blob over the upload limit with PayloadTooLarge', async () => {
    const small = await startPds({ plcUrl: plc.url, env: { PDS_BLOB_UPLOAD_LIMIT: '1000' } })
    try {
      const user = await createUser(small)
      const res = await xrpc(small, 'com.atproto.repo.uploadBlob', {
        headers: { authorization: `Bearer ${user.agent.session!.accessJwt}`, 'content-type': 'image/png' },
        rawBody: 'x'.repeat(1001),
      })
      assert.equal(res.status, 413)
      assert.equal(res.body.error, 'PayloadTooLarge')
    } finally {
      await small.destroy()
    }
  })
})

describe('bad writes are refused and change nothing', () => {
  let plc: TestPlc
  let pds: TestPds
  let alice: Awaited<ReturnType<typeof createUser>>
  let bob: Awaited<ReturnType<typeof createUser>>
  let existing: { rkey: string; cid: string }

  before(async () => {
    plc = await startPlc()
    // A body limit raised to 1 MiB (the default is 150 KiB), so that the 1 MB record cap can be reached at all.
    pds = await startPds({ plcUrl: plc.url, env: { PDS_MAX_REQUEST_BYTES: String(1024 * 1024) } })
    alice = await createUser(pds)
    bob = await createUser(pds)
    const res = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('keep') })
    existing = { rkey: res.data.uri.split('/').pop()!, cid: res.data.cid }
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  const write = (nsid: string, body: Record<string, unknown>) => ({ nsid, body })
  const cases: [string, () => { nsid: string; body: Record<string, unknown> }, number, string][] = [
    ['invalid collection NSID', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'not an nsid', record: post('x') }), 400, 'InvalidRequest'],
    ['invalid rkey', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', rkey: 'a/b', record: {} }), 400, 'InvalidRequest'],
    ['rkey "."', () => write('com.atproto.repo.putRecord', { repo: alice.did, collection: 'com.example.thing', rkey: '.', record: {} }), 400, 'InvalidRequest'],
    ['non-TID rkey for a tid collection', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey: 'hello', record: post('x') }), 400, 'InvalidRequest'],
    ['profile not at self', () => write('com.atproto.repo.putRecord', { repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'me', record: { $type: 'app.bsky.actor.profile' } }), 400, 'InvalidRequest'],
    ['record failing its lexicon', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 42, createdAt: 'now' } }), 400, 'InvalidRequest'],
    ['$type mismatch', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.like' } }), 400, 'InvalidRequest'],
    ['unknown lexicon with validate=true', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', validate: true, record: {} }), 400, 'InvalidRequest'],
    ['float in a record', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', record: { n: 1.5 } }), 400, 'InvalidRequest'],
    ['record that is not an object', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', record: [1] }), 400, 'InvalidRequest'],
    ['oversized record', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', record: { big: 'x'.repeat(1_000_001) } }), 400, 'InvalidRequest'],
    ['oversized body', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', record: { big: 'x'.repeat(1_100_000) } }), 413, 'PayloadTooLarge'],
    ['write to another user\'s repo', () => write('com.atproto.repo.createRecord', { repo: bob.did, collection: 'com.example.thing', record: {} }), 401, 'AuthenticationRequired'],
    ['unknown repo', () => write('com.atproto.repo.createRecord', { repo: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', collection: 'com.example.thing', record: {} }), 400, 'RepoNotFound'],
    ['malformed repo', () => write('com.atproto.repo.createRecord', { repo: 'not a did', collection: 'com.example.thing', record: {} }), 400, 'InvalidRequest'],
    ['malformed swapCommit CID', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', record: {}, swapCommit: 'nope' }), 400, 'InvalidRequest'],
    ['stale swapCommit', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'com.example.thing', record: {}, swapCommit: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454' }), 400, 'InvalidSwap'],
    ['stale swapRecord', () => write('com.atproto.repo.putRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey: existing.rkey, record: post('y'), swapRecord: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454' }), 400, 'InvalidSwap'],
    ['swapRecord null for an existing record', () => write('com.atproto.repo.putRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey: existing.rkey, record: post('y'), swapRecord: null }), 400, 'InvalidSwap'],
    ['stale swapRecord on delete', () => write('com.atproto.repo.deleteRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey: existing.rkey, swapRecord: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454' }), 400, 'InvalidSwap'],
    ['duplicate create of the same rkey', () => write('com.atproto.repo.createRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey: existing.rkey, record: post('dup') }), 400, 'InvalidRequest'],
    ['201 writes in applyWrites', () => write('com.atproto.repo.applyWrites', { repo: alice.did, writes: Array.from({ length: 201 }, () => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.thing', value: {} })) }), 400, 'InvalidRequest'],
    ['one bad write spoils the batch', () => write('com.atproto.repo.applyWrites', { repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.thing', value: {} }, { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: { text: 1 } }] }), 400, 'InvalidRequest'],
    ['applyWrites updating a record it deleted', () => write('com.atproto.repo.applyWrites', { repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: existing.rkey }, { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.feed.post', rkey: existing.rkey, value: post('a') }] }), 400, 'InvalidRequest'],
    ['unknown write $type', () => write('com.atproto.repo.applyWrites', { repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#upsert', collection: 'com.example.thing', value: {} }] }), 400, 'InvalidRequest'],
    ['delete of a missing record in applyWrites', () => write('com.atproto.repo.applyWrites', { repo: alice.did, writes: [{ $type: 'com.atproto.repo.applyWrites#delete', collection: 'com.example.thing', rkey: 'missing' }] }), 400, 'InvalidRequest'],
  ]

  for (const [name, make, status, error] of cases) {
    it(name, async () => {
      const { nsid, body } = make()
      const rootBefore = pds.ctx.repo.root(alice.did)!.cid.toString()
      const seqBefore = pds.ctx.sequencer.latestSeq()
      const res = await xrpc(pds, nsid, { body, headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}` } })
      assert.equal(res.status, status, JSON.stringify(res.body))
      assert.equal(res.body.error, error, JSON.stringify(res.body))
      assert.equal(pds.ctx.repo.root(alice.did)!.cid.toString(), rootBefore, 'root unchanged')
      assert.equal(pds.ctx.sequencer.latestSeq(), seqBefore, 'no event')
    })
  }

  it('reads answer bad parameters with 4xx', async () => {
    const queries: Record<string, string>[] = [
      { repo: alice.did, collection: 'app.bsky.feed.post', limit: '0' },
      { repo: alice.did, collection: 'app.bsky.feed.post', limit: '101' },
      { repo: alice.did, collection: 'app.bsky.feed.post', limit: 'ten' },
      { repo: 'not a did', collection: 'app.bsky.feed.post' },
    ]
    for (const query of queries) {
      const res = await xrpc(pds, 'com.atproto.repo.listRecords', { query })
      assert.equal(res.status, 400, JSON.stringify(query))
    }
    const missing = await xrpc(pds, 'com.atproto.repo.describeRepo', { query: { repo: 'nobody.test' } })
    assert.equal(missing.body.error, 'RepoNotFound')
  })
})
