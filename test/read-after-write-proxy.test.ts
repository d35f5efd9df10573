// Read-after-write end to end: the Bluesky app's calls through Aurora's proxy to a stand-in AppView that has not
// indexed the user's newest writes (its atproto-repo-rev is older). What the user wrote since must show up in the
// answers @atproto/api receives, lexicon-valid; what the AppView already knows must stay as it sent it.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { lexicons } from '@atproto/api'
import { ServiceStandIn } from './helpers/service-standin.ts'
import { createUser, startPds, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'

type User = Awaited<ReturnType<typeof createUser>>

describe('read-after-write through the proxy', () => {
  let plc: TestPlc
  let appView: ServiceStandIn
  let pds: TestPds
  let alice: User
  /** Alice's repo rev as the stand-in AppView last indexed it. */
  let indexedRev: string

  before(async () => {
    plc = await startPlc()
    appView = await ServiceStandIn.start(plc.url)
    pds = await startPds({
      plcUrl: plc.url,
      env: { PDS_BSKY_APP_VIEW_URL: appView.url, PDS_BSKY_APP_VIEW_DID: appView.did },
    })
    alice = await createUser(pds)
    await alice.agent.app.bsky.actor.profile.create({ repo: alice.did }, { displayName: 'Alice (indexed)' })
    // A record the AppView has and nothing rewrites: as in the reference, a repo with nothing at or before the
    // AppView's rev (every record newer) is taken for one the AppView knows nothing about, and left alone.
    await alice.agent.follow('did:plc:ewvi7nxzyoun6zhxrhs64oiz')
    indexedRev = (await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })).data.rev
    // The stand-in AppView knows Alice as of indexedRev: her old profile, and no posts.
    appView.answer = (call) => {
      const headers = { 'atproto-repo-rev': indexedRev }
      switch (call.nsid) {
        case 'app.bsky.feed.getTimeline':
          return { status: 200, json: { feed: [] }, headers }
        case 'app.bsky.actor.getProfile':
          return {
            status: 200,
            json: { did: alice.did, handle: alice.handle, displayName: 'Alice (indexed)', postsCount: 0 },
            headers,
          }
        default:
          return undefined
      }
    }
  })
  after(async () => {
    await pds?.destroy()
    await appView?.close()
    await plc?.close()
  })

  it("shows the user's post the AppView has not indexed yet in their timeline", async () => {
    const post = await alice.agent.post({ text: 'hello from Aurora', createdAt: new Date().toISOString() })
    const res = await alice.agent.app.bsky.feed.getTimeline({ limit: 30 })
    assert.equal(appView.callsOf('app.bsky.feed.getTimeline').length > 0, true, 'the AppView was asked')
    assert.deepEqual(
      res.data.feed.map((item) => [item.post.uri, item.post.cid, (item.post.record as { text: string }).text]),
      [[post.uri, post.cid, 'hello from Aurora']],
    )
    assert.equal(res.data.feed[0].post.author.did, alice.did)
    assert.equal(res.data.feed[0].post.author.displayName, 'Alice (indexed)')
    assert.ok(Number(res.headers['atproto-upstream-lag']) >= 0, 'the lag header says the AppView is behind')
    lexicons.assertValidXrpcOutput('app.bsky.feed.getTimeline', res.data)
  })

  it("shows the user's newer profile over the AppView's copy", async () => {
    await alice.agent.upsertProfile((old) => ({ ...old, displayName: 'Alice (renamed)' }))
    const res = await alice.agent.app.bsky.actor.getProfile({ actor: alice.did })
    assert.equal(res.data.displayName, 'Alice (renamed)')
    lexicons.assertValidXrpcOutput('app.bsky.actor.getProfile', res.data)
  })

  it('leaves the answer as the AppView sent it once it has caught up', async () => {
    const current = (await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })).data.rev
    const before = appView.answer
    appView.answer = (call) =>
      call.nsid === 'app.bsky.feed.getTimeline'
        ? { status: 200, json: { feed: [], cursor: 'as-sent' }, headers: { 'atproto-repo-rev': current } }
        : before(call)
    try {
      const res = await alice.agent.app.bsky.feed.getTimeline()
      assert.deepEqual(res.data, { feed: [], cursor: 'as-sent' })
      assert.equal(res.headers['atproto-upstream-lag'], undefined)
    } finally {
      appView.answer = before
    }
  })

  it("does not add the user's posts to another user's feed answer", async () => {
    const bob = await createUser(pds)
    const res = await bob.agent.app.bsky.feed.getTimeline()
    assert.deepEqual(res.data.feed, [], "Bob's rev is the AppView's: nothing of Alice's is added")
  })
})
