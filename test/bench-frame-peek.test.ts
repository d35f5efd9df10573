// The benchmark client's frame reader (bench/lib/frame-peek.ts) against real frames from a real Aurora: for every
// frame a subscriber receives, it must find the same op, type, seq and rev as a full DAG-CBOR decode, or the
// benchmark would match writes to the wrong events (or none).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peekFrame } from '../bench/lib/frame-peek.ts'
import { FirehoseClient, type Frame } from './helpers/firehose-client.ts'
import type { TestPlc } from './helpers/plc.ts'
import { createUser, startServers, stopServers, type TestPds } from './helpers/pds.ts'

function assertPeekMatches(frame: Frame) {
  const peeked = peekFrame(Buffer.from(frame.bytes))
  assert.equal(peeked.op, frame.header.op)
  assert.equal(peeked.t, frame.header.t)
  if (frame.header.op !== 1) return
  assert.equal(peeked.seq, frame.body.seq)
  assert.equal(peeked.rev, typeof frame.body.rev === 'string' ? frame.body.rev : undefined)
}

describe('bench frame reader', () => {
  let plc: TestPlc
  let pds: TestPds
  before(async () => ({ plc, pds } = await startServers()))
  after(() => stopServers({ plc, pds }))

  it('reads op, type, seq and rev of every kind of event as a full decode does', async () => {
    const alice = await createUser(pds)
    const created = await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'ünïcode 🦋 '.repeat(20), createdAt: new Date().toISOString() },
    })
    await alice.agent.com.atproto.repo.applyWrites({
      repo: alice.did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: created.data.uri.split('/').pop()! },
        { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.actor.profile', rkey: 'self', value: { displayName: 'A' } },
      ],
    })
    const last = (await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })).data.rev
    const client = await FirehoseClient.connect(pds, { cursor: 0 })
    try {
      await client.until(() => client.events.some((f) => f.body.rev === last), 'the last commit')
      const types = new Set(client.events.map((f) => f.header.t))
      for (const t of ['#identity', '#account', '#commit']) assert.ok(types.has(t), `replay has a ${t} event`)
      for (const frame of client.frames) assertPeekMatches(frame)
      const commit = client.events.find((f) => f.body.rev === created.data.commit!.rev)!
      assert.equal(peekFrame(Buffer.from(commit.bytes)).rev, created.data.commit!.rev)
    } finally {
      client.close()
    }
  })

  it('reads an error frame, and refuses a truncated one', async () => {
    const client = await FirehoseClient.connect(pds, { cursor: 1_000_000 })
    try {
      await client.closed()
      const error = client.frames.find((f) => f.header.op === -1)
      assert.ok(error, 'a FutureCursor error frame')
      assertPeekMatches(error)
      assert.throws(() => peekFrame(Buffer.from(error.bytes.subarray(0, 1))), RangeError)
    } finally {
      client.close()
    }
  })
})
