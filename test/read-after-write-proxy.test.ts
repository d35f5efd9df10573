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
  /** A post of Alice's the stand-in has indexed. */
  let indexedPost: { uri: string; cid: string }

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
    indexedPost = await alice.agent.post({ text: 'an indexed post', createdAt: new Date().toISOString() })
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
        case 'app.bsky.feed.getPostThread': {
          // As the AppView answers: the posts it has indexed, NotFound (with its rev) for any other.
          if (call.params.uri !== indexedPost.uri) {
            return { status: 400, json: { error: 'NotFound', message: `Post not found: ${call.params.uri}` }, headers }
          }
          const post = {
            ...indexedPost,
            author: { did: alice.did, handle: alice.handle },
            record: { $type: 'app.bsky.feed.post', text: 'an indexed post', createdAt: new Date().toISOString() },
            indexedAt: new Date().toISOString(),
          }
          return { status: 200, json: { thread: { $type: 'app.bsky.feed.defs#threadViewPost', post } }, headers }
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

  it("opens the user's new reply, which the AppView answers NotFound for, with its indexed parent above it", async () => {
    const reply = await alice.agent.post({
      text: 'a reply the AppView has not seen',
      reply: { root: indexedPost, parent: indexedPost },
      createdAt: new Date().toISOString(),
    })
    const res = await alice.agent.app.bsky.feed.getPostThread({ uri: reply.uri, parentHeight: 3 })
    lexicons.assertValidXrpcOutput('app.bsky.feed.getPostThread', res.data)
    const thread = res.data.thread as { post: { uri: string; cid: string }; parent?: { post: { uri: string } } }
    assert.equal(thread.post.uri, reply.uri)
    assert.equal(thread.post.cid, reply.cid)
    assert.equal(thread.parent?.post.uri, indexedPost.uri, "the parent, from the AppView's thread")
    const asked = appView.callsOf('app.bsky.feed.getPostThread').at(-1)!
    assert.deepEqual(asked.params, { uri: indexedPost.uri, depth: '0', parentHeight: '3' })

    // By handle too, as the app may ask.
    const byHandle = await alice.agent.app.bsky.feed.getPostThread({ uri: reply.uri.replace(alice.did, alice.handle) })
    assert.equal((byHandle.data.thread as { post: { uri: string } }).post.uri, reply.uri)
  })

  it("passes NotFound on for a post that is not the user's own, or not there at all", async () => {
    const bob = await createUser(pds)
    const bobs = await bob.agent.post({ text: "Bob's post", createdAt: new Date().toISOString() })
    await assert.rejects(alice.agent.app.bsky.feed.getPostThread({ uri: bobs.uri }), /Post not found/)
    const missing = `at://${alice.did}/app.bsky.feed.post/3kaaaaaaaaaaa`
    await assert.rejects(alice.agent.app.bsky.feed.getPostThread({ uri: missing }), /Post not found/)
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
