// com.atproto.sync.subscribeRepos with real clients: a raw `ws` client decoding every frame, @atproto/sync's Firehose
// consumer (signatures and proofs), commit inversion (also on the interop commit-proof vectors), cursors, replay
// while writing, backpressure, keepalive, log faults, retention and shutdown.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Secp256k1Keypair } from '@atproto/crypto'
import { IdResolver } from '@atproto/identity'
import { BlockMap, blocksToCarFile, MemoryBlockstore, MST, signCommit } from '@atproto/repo'
import { Firehose as SyncFirehose, parseCommitAuthenticated, type Event as SyncEvent } from '@atproto/sync'
import { CID } from 'multiformats/cid'
import { parseConfig } from '../src/config/index.ts'
import { assertConfigRefuses } from './helpers/config.ts'
import { defaultTuning, type Firehose } from '../src/firehose/firehose.ts'
import type { SubscriberInfo } from '../src/firehose/subscriber.ts'
import type { SeqRow } from '../src/sequencer/sequencer.ts'
import {
  FirehoseClient,
  firehoseUrl,
  isCanonicalFrame,
  refusedUpgrade,
  within,
  type Frame,
} from './helpers/firehose-client.ts'
import { interopJson } from './helpers/fixtures.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, type TestPds, startServers, stopServers } from './helpers/pds.ts'
import { checkCommitEvent, signingDidKey } from './helpers/repo-check.ts'

const isCid = (v: unknown) => CID.asCID(v) !== null
const isTime = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v))
const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
type User = Awaited<ReturnType<typeof createUser>>

function stored(pds: TestPds, after = 0): SeqRow[] {
  return pds.ctx.sequencer.range(after, 1_000_000)
}

function nextDisconnect(firehose: Firehose, match: (info: SubscriberInfo & { reason: string }) => boolean) {
  return new Promise<SubscriberInfo & { reason: string }>((resolve) => {
    const listener = (info: SubscriberInfo & { reason: string }) => {
      if (!match(info)) return
      firehose.off('disconnect', listener)
      resolve(info)
    }
    firehose.on('disconnect', listener)
  })
}

/** The subscriber that connected last. */
function newest(firehose: Firehose): SubscriberInfo {
  const subs = firehose.stats().subscribers
  return subs.reduce((a, b) => (b.id > a.id ? b : a))
}

function assertFieldsExactly(body: Record<string, unknown>, required: string[], optional: string[] = []) {
  for (const key of required) assert.ok(key in body, `field ${key} present`)
  for (const key of Object.keys(body)) assert.ok([...required, ...optional].includes(key), `unexpected field ${key}`)
  assert.ok(!('$type' in body), 'bodies carry no $type')
}

function checkCommitShape(body: any, first: boolean) {
  assertFieldsExactly(body, ['seq', 'rebase', 'tooBig', 'repo', 'commit', 'rev', 'since', 'blocks', 'ops', 'blobs', 'time'], [
    'prevData',
  ])
  assert.equal(typeof body.seq, 'number')
  assert.equal(body.rebase, false)
  assert.equal(body.tooBig, false)
  assert.match(body.repo, /^did:plc:[a-z2-7]{24}$/)
  assert.ok(isCid(body.commit), 'commit is a CID link')
  assert.match(body.rev, /^[2-7a-z]{13}$/)
  assert.ok(body.blocks instanceof Uint8Array, 'blocks are bytes')
  assert.ok(Array.isArray(body.ops))
  assert.deepEqual(body.blobs, [])
  assert.ok(isTime(body.time))
  if (first) {
    assert.equal(body.since, null)
    assert.ok(!('prevData' in body), 'the first commit has no prevData')
  } else {
    assert.match(body.since, /^[2-7a-z]{13}$/)
    assert.ok(isCid(body.prevData), 'prevData is a CID link')
  }
  for (const op of body.ops) {
    assert.match(op.path, /^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._:~-]+$/)
    if (op.action === 'create') {
      assert.ok(isCid(op.cid) && !('prev' in op), 'create: cid, no prev')
    } else if (op.action === 'update') {
      assert.ok(isCid(op.cid) && isCid(op.prev), 'update: cid and prev')
    } else {
      assert.equal(op.action, 'delete')
      assert.ok(op.cid === null && isCid(op.prev), 'delete: cid null, prev set')
    }
  }
}

describe('firehose: subscribeRepos', () => {
  let plc: TestPlc
  let pds: TestPds
  let alice: User
  let bob: User

  before(async () => ({ plc, pds } = await startServers()))
  after(() => stopServers({ plc, pds }))

  it('account creation streams #identity, #account, #commit, #sync with the lexicon fields, sent as stored', async () => {
    const client = await FirehoseClient.connect(pds)
    alice = await createUser(pds)
    bob = await createUser(pds)
    const mine = (did: string) => client.events.filter((f) => (f.body.did ?? f.body.repo) === did)
    await client.until(() => mine(bob.did).length === 4, "both accounts' four events")
    const [identity, account, commit, sync] = mine(alice.did)
    assert.deepEqual(
      mine(alice.did).map((f) => f.header),
      [{ t: '#identity', op: 1 }, { t: '#account', op: 1 }, { t: '#commit', op: 1 }, { t: '#sync', op: 1 }],
    )

    assertFieldsExactly(identity.body, ['did', 'handle', 'seq', 'time'])
    assert.equal(identity.body.did, alice.did)
    assert.equal(identity.body.handle, alice.handle)
    assertFieldsExactly(account.body, ['did', 'active', 'seq', 'time'], ['status'])
    assert.equal(account.body.active, true)
    checkCommitShape(commit.body, true)
    assert.equal(commit.body.repo, alice.did)
    assert.deepEqual(commit.body.ops, [])
    await checkCommitEvent(commit.body, await signingDidKey(pds, alice.did))
    assertFieldsExactly(sync.body, ['did', 'rev', 'blocks', 'seq', 'time'])
    assert.equal(sync.body.rev, commit.body.rev)
    assert.ok(sync.body.blocks instanceof Uint8Array)
    for (const f of [identity, account, commit, sync]) assert.ok(isTime(f.body.time))

    // Consecutive seqs, each frame byte-for-byte the stored one and canonical DAG-CBOR.
    assert.deepEqual(client.seqs, client.seqs.map((_, i) => client.seqs[0] + i))
    const rows = new Map(stored(pds).map((r) => [r.seq, r]))
    for (const f of client.events) {
      assert.deepEqual(f.bytes, new Uint8Array(rows.get(f.body.seq)!.frame))
      assert.ok(isCanonicalFrame(f), `frame ${f.body.seq} is canonical DAG-CBOR`)
    }
    assert.deepEqual(client.malformed, [])
    client.close()
  })

  it('record writes stream #commit events whose ops invert onto prevData (sync 1.1)', async () => {
    const client = await FirehoseClient.connect(pds)
    const { agent, did } = alice
    const collection = 'app.bsky.feed.post'
    const a = await agent.com.atproto.repo.createRecord({ repo: did, collection, record: post('one') })
    const rkeyA = a.data.uri.split('/').pop()!
    await agent.com.atproto.repo.putRecord({ repo: did, collection, rkey: rkeyA, record: post('one, edited') })
    const b = await agent.com.atproto.repo.createRecord({ repo: did, collection, record: post('two') })
    await agent.com.atproto.repo.deleteRecord({ repo: did, collection, rkey: b.data.uri.split('/').pop()! })
    await agent.com.atproto.repo.applyWrites({
      repo: did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#create', collection, value: post('three') },
        {
          $type: 'com.atproto.repo.applyWrites#create',
          collection: 'app.bsky.actor.profile',
          rkey: 'self',
          value: { $type: 'app.bsky.actor.profile', displayName: 'Alice' },
        },
        { $type: 'com.atproto.repo.applyWrites#update', collection, rkey: rkeyA, value: post('one, again') },
      ],
    })
    await agent.com.atproto.repo.applyWrites({
      repo: did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.actor.profile', rkey: 'self' },
        { $type: 'com.atproto.repo.applyWrites#delete', collection, rkey: rkeyA },
      ],
    })
    const last = pds.ctx.sequencer.lastAssignedSeq()
    await client.untilSeq(last)

    const commits = client.events.filter((f) => f.header.t === '#commit')
    assert.deepEqual(
      commits.map((f) => f.body.ops.map((op: any) => op.action).join(',')),
      ['create', 'update', 'create', 'delete', 'create,create,update', 'delete,delete'],
    )
    const key = await signingDidKey(pds, did)
    let since: string | undefined
    for (const f of commits) {
      checkCommitShape(f.body, false)
      if (since) assert.equal(f.body.since, since, 'since chains to the previous rev')
      since = f.body.rev
      await checkCommitEvent(f.body, key)
    }
    client.close()
  })

  it("@atproto/sync's Firehose consumer verifies and delivers every event of a run of writes", async () => {
    const idResolver = new IdResolver({ plcUrl: plc.url, fetch: globalThis.fetch })
    const start = pds.ctx.sequencer.lastAssignedSeq()
    const received: SyncEvent[] = []
    const errors: Error[] = []
    let progress = () => {}
    const consumer = new SyncFirehose({
      idResolver,
      service: pds.url.replace(/^http/, 'ws'),
      getCursor: () => start,
      handleEvent: (evt) => {
        received.push(evt)
        progress()
      },
      onError: (err) => {
        errors.push(err)
        progress()
      },
      unauthenticatedHandles: true, // handle checks would need DNS for .test names; commits stay authenticated
    })
    const raw = await FirehoseClient.connect(pds, { cursor: start })
    const running = consumer.start()
    try {
      const collection = 'app.bsky.feed.post'
      const notes = 'com.example.note' // no lexicon: any record key
      const rkeys: string[] = []
      for (let i = 0; i < 8; i++) {
        const user = i % 2 ? bob : alice
        const res = await user.agent.com.atproto.repo.createRecord({ repo: user.did, collection, record: post(`p${i}`) })
        if (user === alice) rkeys.push(res.data.uri.split('/').pop()!)
      }
      await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection, rkey: rkeys[0], record: post('edited') })
      await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection, rkey: rkeys[1] })
      const carol = await createUser(pds)
      for (let i = 0; i < 3; i++) {
        await carol.agent.com.atproto.repo.applyWrites({
          repo: carol.did,
          writes: [
            ...Array.from({ length: 5 }, (_, j) => ({
              $type: 'com.atproto.repo.applyWrites#create' as const,
              collection,
              value: post(`batch ${i}.${j}`),
            })),
            ...(i > 0
              ? [{ $type: 'com.atproto.repo.applyWrites#update' as const, collection: notes, rkey: `b${i - 1}`, value: { text: 'upd' } }]
              : []),
            { $type: 'com.atproto.repo.applyWrites#create' as const, collection: notes, rkey: `b${i}`, value: { text: `b${i}` } },
            ...(i > 1 ? [{ $type: 'com.atproto.repo.applyWrites#delete' as const, collection: notes, rkey: 'b0' }] : []),
          ],
        })
      }
      const end = pds.ctx.sequencer.lastAssignedSeq()
      await raw.untilSeq(end)

      // What the log says the consumer must deliver: one event per op of each #commit, one per other event.
      const expected = raw.events.flatMap((f) => {
        if (f.header.t !== '#commit') return [`${f.body.seq} ${f.header.t!.slice(1)} ${f.body.did}`]
        return f.body.ops.map((op: any) => `${f.body.seq} ${op.action} at://${f.body.repo}/${op.path}`)
      })
      const got = () =>
        received.map((e) =>
          e.event === 'create' || e.event === 'update' || e.event === 'delete'
            ? `${e.seq} ${e.event} ${e.uri.toString()}`
            : `${e.seq} ${e.event} ${e.did}`,
        )
      await within(
        new Promise<void>((resolve) => {
          progress = () => {
            if (received.length >= expected.length || errors.length) resolve()
          }
          progress()
        }),
        20_000,
        'the consumer to deliver every event',
      )
      assert.deepEqual(errors, [])
      assert.deepEqual(got(), expected)
      assert.ok(expected.filter((e) => / (create|update|delete) /.test(e)).length >= 30)

      // Every commit also inverts onto prevData with only the blocks it carries.
      for (const f of raw.events.filter((f) => f.header.t === '#commit')) {
        await checkCommitEvent(f.body, await signingDidKey(pds, f.body.repo))
      }
      // The consumer does verify: the same commit claimed for another repo (another key) is rejected.
      const sample = raw.events.find((f) => f.header.t === '#commit' && f.body.repo === alice.did && f.body.ops.length)!
      await assert.rejects(parseCommitAuthenticated(idResolver, { ...sample.body, repo: bob.did } as never))
    } finally {
      await consumer.destroy()
      await running
      raw.close()
    }
  })

  it('replays from cursor 0 and switches to live while a writer keeps writing: no gap, no duplicate', async () => {
    const writers = [alice, bob]
    let writes = 0
    let liveBeforeWritersEnded = false
    let client: FirehoseClient | undefined
    let clientId = -1
    let connected!: () => void
    const halfway = new Promise<void>((resolve) => (connected = resolve))
    const writing = Promise.all(
      writers.map(async (user) => {
        for (let i = 0; i < 120; i++) {
          await user.agent.com.atproto.repo.createRecord({ repo: user.did, collection: 'app.bsky.feed.post', record: post(`w${i}`) })
          writes += 1
          if (writes === 40) connected()
          const sub = client && pds.ctx.firehose.stats().subscribers.find((s) => s.id === clientId)
          if (sub?.live && writes < 230) liveBeforeWritersEnded = true
        }
      }),
    )
    await halfway
    client = await FirehoseClient.connect(pds, { cursor: 0 })
    clientId = newest(pds.ctx.firehose).id
    await writing
    const end = pds.ctx.sequencer.lastAssignedSeq()
    await client.untilSeq(end)

    const rows = stored(pds)
    assert.deepEqual(client.seqs, rows.map((r) => r.seq), 'exactly the stored events, in order')
    assert.deepEqual(client.seqs, Array.from({ length: end }, (_, i) => i + 1), 'seq 1..end, strictly increasing, no gap')
    client.events.forEach((f, i) => assert.deepEqual(f.bytes, new Uint8Array(rows[i].frame)))
    assert.ok(liveBeforeWritersEnded, 'the subscriber caught up and went live while writes were still arriving')
    client.close()
  })

  it('cursor rules: at the newest seq → only new events; past it → FutureCursor; malformed → InvalidRequest', async () => {
    const latest = pds.ctx.sequencer.lastAssignedSeq()
    const atLatest = await FirehoseClient.connect(pds, { cursor: latest })
    const noCursor = await FirehoseClient.connect(pds)
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('x') })
    await atLatest.untilSeq(latest + 1)
    await noCursor.untilSeq(latest + 1)
    assert.deepEqual(atLatest.seqs, [latest + 1])
    assert.deepEqual(noCursor.seqs, [latest + 1])
    atLatest.close()
    noCursor.close()

    const future = await FirehoseClient.connect(pds, { cursor: latest + 1000 })
    assert.deepEqual(await future.closed(), { code: 1008, reason: 'FutureCursor' })
    assert.equal(future.frames.length, 1)
    assert.deepEqual(future.frames[0].header, { op: -1 })
    assert.equal(future.frames[0].body.error, 'FutureCursor')
    assert.equal(typeof future.frames[0].body.message, 'string')

    for (const bad of ['abc', '1.5', '1e3', '0x10', '99999999999999999999']) {
      const client = await FirehoseClient.connect(pds, { cursor: bad })
      assert.deepEqual(await client.closed(), { code: 1008, reason: 'InvalidRequest' }, bad)
      assert.deepEqual(client.frames.map((f) => [f.header, f.body.error]), [[{ op: -1 }, 'InvalidRequest']], bad)
    }
  })

  it('stats: subscriber count, remote address, lag and the latest seq', async () => {
    const firehose = pds.ctx.firehose
    const client = await FirehoseClient.connect(pds, { cursor: 0 })
    const id = newest(firehose).id
    const latest = pds.ctx.sequencer.lastAssignedSeq()
    await client.untilSeq(latest)
    const stats = firehose.stats()
    assert.equal(stats.enabled, true)
    assert.equal(stats.latestSeq, latest)
    assert.equal(stats.subscriberCount, stats.subscribers.length)
    const me = stats.subscribers.find((s) => s.id === id)!
    assert.equal(me.cursor, 0)
    assert.match(me.remoteAddress, /127\.0\.0\.1|::1/)
    assert.equal(me.lag, 0)
    assert.equal(me.lastSentSeq, latest)
    assert.equal(me.live, true)
    const gone = nextDisconnect(firehose, (i) => i.id === id)
    client.close()
    assert.equal((await within(gone, 10_000, 'the disconnect')).reason, 'Disconnected')
    assert.ok(!firehose.stats().subscribers.some((s) => s.id === id))
  })

  it('keepalive: pings, and drops a peer that stops answering while healthy peers stay', async () => {
    const firehose = pds.ctx.firehose
    firehose.keepalive.start({ intervalMs: 100, timeoutMs: 1000 })
    try {
      const healthy = await FirehoseClient.connect(pds)
      const deaf = await FirehoseClient.connect(pds)
      const deafId = newest(firehose).id
      const dropped = nextDisconnect(firehose, (i) => i.id === deafId)
      deaf.pause()
      const info = await within(dropped, 10_000, 'the unresponsive subscriber to be dropped')
      assert.equal(info.reason, 'KeepaliveTimeout')
      assert.ok(healthy.pings >= 1, 'the healthy client was pinged')
      assert.equal(healthy.closeInfo, undefined, 'the healthy client is still connected')
      assert.ok(firehose.stats().subscribers.some((s) => s.id === deafId - 1))
      healthy.close()
      deaf.close()
    } finally {
      firehose.keepalive.start(defaultTuning(firehose.stats().maxBuffer).keepalive)
    }
  })

  it('a failing log read (SQLITE_BUSY) is retried with backoff; no subscriber is dropped or misses an event', async () => {
    const seq = pds.ctx.sequencer
    const range = seq.range
    let failures = 0
    const live = await FirehoseClient.connect(pds)
    seq.range = (after: number, limit: number) => {
      if (failures < 4) {
        failures += 1
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })
      }
      return range.call(seq, after, limit)
    }
    try {
      const start = seq.lastAssignedSeq()
      const replay = await FirehoseClient.connect(pds, { cursor: 0 })
      await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('busy') })
      await bob.agent.com.atproto.repo.createRecord({ repo: bob.did, collection: 'app.bsky.feed.post', record: post('busy') })
      const end = seq.lastAssignedSeq()
      await replay.untilSeq(end)
      await live.untilSeq(end)
      assert.equal(failures, 4, 'the reads did fail')
      assert.deepEqual(replay.seqs, Array.from({ length: end }, (_, i) => i + 1))
      assert.deepEqual(live.seqs, [start + 1, start + 2])
      assert.equal(replay.closeInfo, undefined)
      assert.equal(live.closeInfo, undefined)
      replay.close()
    } finally {
      seq.range = range
      live.close()
    }
  })

  it('a subscriber that disconnects mid-replay is released at once', async () => {
    const seq = pds.ctx.sequencer
    const firehose = pds.ctx.firehose
    const page = firehose.log.page
    // Let the first page through, then keep the log unreadable: the subscriber sits mid-replay, waiting to retry.
    firehose.log.page = function (after: number, limit: number) {
      if (after > 0) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })
      return page.call(this, after, limit)
    }
    try {
      const client = await FirehoseClient.connect(pds, { cursor: 0 })
      await client.until(() => client.frames.length >= 100, 'the first page')
      const me = firehose.stats().subscribers.find((s) => s.id === newest(firehose).id)!
      assert.ok(me.retrying, 'waiting to retry the log')
      assert.ok(me.lastSentSeq <= 100, 'one page sent')
      assert.deepEqual(client.seqs, Array.from({ length: 100 }, (_, i) => i + 1))
      assert.ok(seq.lastAssignedSeq() > 100, 'still replaying')
      const gone = nextDisconnect(firehose, (i) => i.id === me.id)
      client.close()
      const info = await within(gone, 10_000, 'the disconnect')
      assert.equal(info.reason, 'Disconnected')
      assert.equal(info.retrying, false, 'its retry timer is cancelled')
      assert.equal(info.queued, 0, 'its queue is dropped')
      assert.ok(!firehose.stats().subscribers.some((s) => s.id === me.id))
    } finally {
      firehose.log.page = page
    }
  })

  it('only subscribeRepos upgrades; other paths get an XRPC error before the upgrade', async () => {
    const other = await refusedUpgrade(`${pds.url.replace(/^http/, 'ws')}/xrpc/com.atproto.server.describeServer`)
    assert.equal(other.status, 404)
    assert.equal(other.body.error, 'NotFound')
    assert.equal(typeof other.body.message, 'string')
    const root = await refusedUpgrade(`${pds.url.replace(/^http/, 'ws')}/`)
    assert.equal(root.status, 404)
  })
})

describe('firehose: commit-proof interop vectors against our inversion check', () => {
  type Fixture = {
    comment: string
    leafValue: string
    keys: string[]
    adds: string[]
    dels: string[]
    rootBeforeCommit: string
    rootAfterCommit: string
    blocksInProof: string[]
  }
  const fixtures: Fixture[] = interopJson('firehose/commit-proof-fixtures.json')

  it('has the six vectors', () => assert.equal(fixtures.length, 6))

  for (const fx of fixtures) {
    it(fx.comment, async () => {
      const leaf = CID.parse(fx.leafValue)
      const storage = new MemoryBlockstore()
      let mst = await MST.create(storage)
      for (const key of fx.keys) mst = await mst.add(key, leaf)
      assert.equal((await mst.getPointer()).toString(), fx.rootBeforeCommit)
      for (const key of fx.adds) mst = await mst.add(key, leaf)
      for (const key of fx.dels) mst = await mst.delete(key)
      assert.equal((await mst.getPointer()).toString(), fx.rootAfterCommit)

      // The covering proofs @atproto/repo computes (what our #commit carries as relevant blocks) hold the vector's set.
      const proof = new BlockMap()
      for (const key of [...fx.adds, ...fx.dels]) proof.addMap(await mst.getCoveringProof(key))
      for (const cid of fx.blocksInProof) assert.ok(proof.has(CID.parse(cid)), `covering proof includes ${cid}`)

      // A signed #commit carrying ONLY the vector's proof blocks passes the same check we run on our own events.
      const keypair = await Secp256k1Keypair.create()
      const did = 'did:plc:fixturefixturefixturefix'
      const proofBlocks = (cids: string[]) => {
        const blocks = new BlockMap()
        for (const cid of cids) blocks.set(CID.parse(cid), proof.get(CID.parse(cid))!)
        return blocks
      }
      const ops = [
        ...fx.adds.map((p) => ({ action: 'create', path: p, cid: leaf })),
        ...fx.dels.map((p) => ({ action: 'delete', path: p, cid: null, prev: leaf })),
      ]
      const event = async (blocks: BlockMap, prevData = fx.rootBeforeCommit) => {
        const commit = await signCommit(
          { did, version: 3, data: CID.parse(fx.rootAfterCommit), rev: '3lfixturerev22', prev: null },
          keypair,
        )
        const cid = await blocks.add(commit)
        return {
          repo: did,
          commit: cid,
          rev: commit.rev,
          since: '3lfixturerev11',
          blocks: await blocksToCarFile(cid, blocks),
          ops,
          prevData: CID.parse(prevData),
        }
      }
      await checkCommitEvent(await event(proofBlocks(fx.blocksInProof)), keypair.did())
      // And the check can fail: the same event claiming another previous root is refused.
      await assert.rejects(
        checkCommitEvent(await event(proofBlocks(fx.blocksInProof), fx.rootAfterCommit), keypair.did()),
        /inverted root/,
      )
    })
  }
})

describe('firehose: a consumer that never reads', () => {
  let plc: TestPlc
  let pds: TestPds
  const MAX_BUFFER = 50

  before(async () => ({ plc, pds } = await startServers({ env: { PDS_FIREHOSE_MAX_BUFFER: String(MAX_BUFFER) } })))
  after(() => stopServers({ plc, pds }))

  it('is cut off with ConsumerTooSlow (1008) with bounded buffers, while a healthy subscriber gets every event', async (t) => {
    const firehose = pds.ctx.firehose
    const tuning = defaultTuning(MAX_BUFFER)
    const users = await Promise.all([1, 2, 3, 4].map(() => createUser(pds)))
    const start = pds.ctx.sequencer.lastAssignedSeq()
    const healthy = await FirehoseClient.connect(pds)
    const slow = await FirehoseClient.connect(pds)
    const slowId = newest(firehose).id
    slow.pause()
    let cutOff: (SubscriberInfo & { reason: string }) | undefined
    const gone = nextDisconnect(firehose, (i) => i.id === slowId).then((info) => (cutOff = info))

    const peak = { inFlight: 0, queued: 0, bufferedBytes: 0 }
    let writes = 0
    let stop = false
    const writing = Promise.all(
      users.map(async (user, u) => {
        while (!cutOff && !stop) {
          const text = `${u}:${writes}:`.padEnd(2000, 'x') // unique, so every record is a new block
          await user.agent.com.atproto.repo.createRecord({ repo: user.did, collection: 'com.example.filler', record: { text } })
          writes += 1
          const me = firehose.stats().subscribers.find((s) => s.id === slowId)
          if (me) {
            peak.inFlight = Math.max(peak.inFlight, me.inFlight)
            peak.queued = Math.max(peak.queued, me.queued)
            peak.bufferedBytes = Math.max(peak.bufferedBytes, me.bufferedBytes)
          }
        }
      }),
    )
    let info: SubscriberInfo & { reason: string }
    try {
      info = await within(gone, 120_000, 'the slow subscriber to be cut off')
    } finally {
      stop = true
      await writing
    }
    const end = pds.ctx.sequencer.lastAssignedSeq()
    t.diagnostic(`${writes} writes, cut off at lag ${info.lag}; peak ${JSON.stringify(peak)}; rss ${process.memoryUsage().rss >> 20} MiB`)

    assert.equal(info.reason, 'ConsumerTooSlow')
    assert.ok(info.lag > MAX_BUFFER)
    assert.ok(peak.inFlight <= tuning.windowEvents, 'frames handed to the socket stay within the window')
    assert.ok(peak.queued <= tuning.pageSize, 'at most one page read ahead')
    assert.ok(peak.bufferedBytes <= tuning.windowBytes + 64 * 1024, 'socket buffer stays within the byte window')

    await healthy.untilSeq(end)
    assert.deepEqual(healthy.seqs, Array.from({ length: end - start }, (_, i) => start + i + 1), 'healthy: every event')
    assert.equal(healthy.closeInfo, undefined)

    const released = new Promise((resolve) => firehose.on('closed', (id) => id === slowId && resolve(id)))
    slow.resume()
    assert.deepEqual(await slow.closed(), { code: 1008, reason: 'ConsumerTooSlow' })
    await within(released, 10_000, 'the server side of the slow socket to close')
    const last = slow.frames.at(-1)!
    assert.deepEqual(last.header, { op: -1 })
    assert.equal(last.body.error, 'ConsumerTooSlow')
    assert.deepEqual(slow.seqs, Array.from({ length: slow.seqs.length }, (_, i) => start + i + 1), 'no gap before the cut')
    assert.ok(slow.seqs.length < end - start)

    const stats = firehose.stats()
    assert.equal(stats.subscriberCount, 1)
    assert.equal(stats.openSockets, 1, 'the slow socket is closed and its buffers freed')
    assert.equal(stats.totals.ConsumerTooSlow, 1)
    healthy.close()
  })
})

describe('firehose: retention and OutdatedCursor', () => {
  let plc: TestPlc
  let pds: TestPds
  let user: User
  const OLD = '2000-01-01T00:00:00.000Z'
  const write = (text: string) =>
    user.agent.com.atproto.repo.createRecord({ repo: user.did, collection: 'app.bsky.feed.post', record: post(text) })
  const age = (throughSeq: number) =>
    pds.db.prepare('UPDATE repo_seq SET sequenced_at = ? WHERE seq <= ?').run(OLD, throughSeq)

  before(async () => {
    plc = await startPlc()
    pds = await startPds({ plcUrl: plc.url })
    user = await createUser(pds)
    for (let i = 0; i < 8; i++) await write(`r${i}`)
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  const isOutdatedInfo = (f: Frame) =>
    f.header.t === '#info' && f.header.op === 1 && f.body.name === 'OutdatedCursor' && typeof f.body.message === 'string'

  it('a cursor before the window gets #info OutdatedCursor, then the oldest event inside the window', async () => {
    const last = pds.ctx.sequencer.lastAssignedSeq()
    age(6)
    const old = await FirehoseClient.connect(pds, { cursor: 2 })
    await old.untilSeq(last)
    assert.ok(isOutdatedInfo(old.frames[0]), 'first frame is #info OutdatedCursor')
    assert.ok(!('seq' in old.frames[0].body), '#info is not sequenced')
    assert.deepEqual(old.seqs, Array.from({ length: last - 6 }, (_, i) => 7 + i))
    const inWindow = await FirehoseClient.connect(pds, { cursor: 6 })
    await inWindow.untilSeq(last)
    assert.equal(inWindow.frames.filter(isOutdatedInfo).length, 0)
    assert.deepEqual(inWindow.seqs, old.seqs)
    old.close()
    inWindow.close()
  })

  it('pruning deletes events outside the window, seqs are never reused, older cursors get OutdatedCursor', async () => {
    const last = pds.ctx.sequencer.lastAssignedSeq()
    assert.equal(await pds.ctx.firehose.retention.prune(), 6)
    assert.equal(pds.ctx.sequencer.oldestSeq(), 7)
    await write('after prune')
    assert.equal(pds.ctx.sequencer.lastAssignedSeq(), last + 1)
    for (const cursor of [0, 3]) {
      const client = await FirehoseClient.connect(pds, { cursor })
      await client.untilSeq(last + 1)
      assert.ok(isOutdatedInfo(client.frames[0]))
      assert.deepEqual(client.seqs, Array.from({ length: last + 1 - 6 }, (_, i) => 7 + i))
      client.close()
    }
    const exact = await FirehoseClient.connect(pds, { cursor: 6 })
    await exact.untilSeq(last + 1)
    assert.equal(exact.frames.filter(isOutdatedInfo).length, 0, 'nothing was missed after seq 6')
    exact.close()
  })

  it('a subscriber still behind events that get pruned is cut off rather than silently skipping them', async () => {
    const firehose = pds.ctx.firehose
    const page = firehose.log.page
    const oldest = pds.ctx.sequencer.oldestSeq()!
    firehose.log.page = () => {
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })
    }
    try {
      const client = await FirehoseClient.connect(pds, { cursor: oldest })
      const me = newest(firehose)
      assert.equal(me.retrying, true, 'stuck at its cursor, retrying the log')
      const gone = nextDisconnect(firehose, (i) => i.id === me.id)
      age(oldest + 3)
      assert.equal(await firehose.retention.prune(), 4)
      assert.equal((await within(gone, 10_000, 'the cut-off')).reason, 'ConsumerTooSlow')
      assert.deepEqual(await client.closed(), { code: 1008, reason: 'ConsumerTooSlow' })
      assert.equal(client.frames.at(-1)!.body.error, 'ConsumerTooSlow')
      assert.deepEqual(client.seqs, [])
    } finally {
      firehose.log.page = page
    }
  })

  it('with the whole log pruned, the cursor limits still come from the last assigned seq', async () => {
    const last = pds.ctx.sequencer.lastAssignedSeq()
    age(last)
    await pds.ctx.firehose.retention.prune()
    assert.equal(pds.ctx.sequencer.oldestSeq(), null)

    const future = await FirehoseClient.connect(pds, { cursor: last + 1 })
    assert.equal((await future.closed()).reason, 'FutureCursor')
    const atLast = await FirehoseClient.connect(pds, { cursor: last })
    const behind = await FirehoseClient.connect(pds, { cursor: last - 1 })
    await write('fresh')
    await atLast.untilSeq(last + 1)
    await behind.untilSeq(last + 1)
    assert.deepEqual(atLast.frames.map((f) => f.body.seq), [last + 1])
    assert.ok(isOutdatedInfo(behind.frames[0]))
    assert.deepEqual(behind.seqs, [last + 1])
    atLast.close()
    behind.close()
  })

  it('closing the server ends firehose connections, so the process can exit', async () => {
    const listening = await FirehoseClient.connect(pds)
    const deaf = await FirehoseClient.connect(pds)
    deaf.pause()
    await within(pds.destroy(), 10_000, 'the server to close')
    assert.equal(pds.server.listening, false)
    assert.deepEqual(await listening.closed(), { code: 1001, reason: 'ServerShutdown' })
    deaf.resume()
    await deaf.closed()
    assert.equal(pds.ctx.firehose.stats().openSockets, 0)
  })
})

describe('firehose: configuration', () => {
  it('PDS_FIREHOSE_MAX_BUFFER and PDS_FIREHOSE_RETENTION_HOURS: defaults, values, bad values', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-fh-cfg-'))
    try {
      const defaults = parseConfig({ PDS_DATA_DIRECTORY: dir }).firehose
      assert.deepEqual([defaults.maxBuffer, defaults.retentionHours], [5000, 72])
      const cfg = parseConfig({ PDS_DATA_DIRECTORY: dir, PDS_FIREHOSE_MAX_BUFFER: '200', PDS_FIREHOSE_RETENTION_HOURS: '0.5' })
      assert.deepEqual([cfg.firehose.maxBuffer, cfg.firehose.retentionHours], [200, 0.5])
      for (const [name, value] of [
        ['PDS_FIREHOSE_MAX_BUFFER', '0'],
        ['PDS_FIREHOSE_MAX_BUFFER', '1.5'],
        ['PDS_FIREHOSE_MAX_BUFFER', 'lots'],
        ['PDS_FIREHOSE_RETENTION_HOURS', '-1'],
        ['PDS_FIREHOSE_RETENTION_HOURS', 'forever'],
      ]) {
        assertConfigRefuses({ PDS_DATA_DIRECTORY: dir, [name]: value }, name)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('firehose: disabled', () => {
  it('refuses the upgrade with 501 MethodNotImplemented before upgrading', async () => {
    const pds = await startPds({ env: { PDS_FEDERATION_FIREHOSE_ENABLED: 'false' } })
    try {
      const res = await refusedUpgrade(firehoseUrl(pds))
      assert.equal(res.status, 501)
      assert.equal(res.body.error, 'MethodNotImplemented')
      assert.match(res.body.message, /disabled/)
      const stats = pds.ctx.firehose.stats()
      assert.equal(stats.enabled, false)
      assert.equal(stats.openSockets, 0)
    } finally {
      await pds.destroy()
    }
  })
})
