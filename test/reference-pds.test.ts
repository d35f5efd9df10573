// The reference PDS harness (test/helpers/reference-pds.ts): it starts, serves an account end to end through
// @atproto/api, registers the DID with our PLC directory, and coexists with our own server in the same process.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { readCar } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { createUser, startPds, uniqueHandle, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { startReferencePds, type ReferencePds } from './helpers/reference-pds.ts'

describe('reference PDS harness', () => {
  let plc: TestPlc
  let ref: ReferencePds
  let ours: TestPds
  let startupMs = 0

  before(async () => {
    plc = await startPlc()
    const t0 = Date.now()
    ref = await startReferencePds({ plcUrl: plc.url })
    startupMs = Date.now() - t0
    ours = await startPds({ plcUrl: plc.url })
  })
  after(async () => {
    await ref?.close()
    await ours?.destroy()
    await plc?.close()
  })

  it('starts on its own loopback port with its own service DID', async () => {
    assert.match(ref.url, /^http:\/\/localhost:\d+$/)
    assert.notEqual(new URL(ref.url).port, new URL(ours.url).port)
    const desc = await new AtpAgent({ service: ref.url }).com.atproto.server.describeServer()
    assert.equal(desc.data.did, ref.did)
    assert.deepEqual(desc.data.availableUserDomains, ['.test'])
    assert.equal(desc.data.inviteCodeRequired, false)
    assert.ok(startupMs < 60_000, `started in ${startupMs} ms`)
  })

  it('creates an account registered with our PLC directory, posts, and exports the repo', async () => {
    const agent = new AtpAgent({ service: ref.url })
    const handle = uniqueHandle('ref')
    const created = await agent.createAccount({ handle, email: `${handle.split('.')[0]}@example.org`, password: 'ref-pass' })
    const did = created.data.did
    assert.ok(plc.dids().includes(did), 'the DID is in our PLC directory')
    const doc = (await (await fetch(`${plc.url}/${did}`)).json()) as { service: { serviceEndpoint: string }[] }
    assert.equal(doc.service[0].serviceEndpoint, ref.url)

    const post = await agent.post({ text: 'hello from the reference', createdAt: new Date().toISOString() })
    const car = await agent.com.atproto.sync.getRepo({ did })
    const { roots, blocks } = await readCar(car.data)
    assert.equal(roots.length, 1)
    assert.ok(blocks.has(CID.parse(post.cid)), 'the post is in the exported CAR')

    const listed = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post' })
    assert.deepEqual(listed.data.records.map((r) => r.cid), [post.cid])
  })

  it('does not disturb our server running in the same process', async () => {
    const user = await createUser(ours)
    await user.agent.post({ text: 'hello from Aurora', createdAt: new Date().toISOString() })
    const health = await fetch(new URL('/xrpc/_health', ours.url))
    assert.equal(health.status, 200)
    // Each answers for itself: our handle is unknown there.
    const there = await fetch(`${ref.url}/xrpc/com.atproto.identity.resolveHandle?handle=${user.handle}`)
    assert.equal(there.status, 400)
  })
})
