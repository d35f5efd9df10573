// Read-after-write: a real Aurora with real records written through @atproto/api; AppView-shaped answers, checked
// against the published lexicons, are rewritten with the caller's newer posts, profile and replies as the reference
// PDS does, and left alone when the AppView is up to date, gives no rev, or answers something malformed.
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { lexicons, type AppBskyActorDefs, type AppBskyFeedDefs } from '@atproto/api'
import { ensureAtprotoKey, type DidDocument } from '@atproto/identity'
import { jsonToLex } from '@atproto/lexicon'
import { verifyJwt } from '@atproto/xrpc-server'
import { createReadAfterWrite, type ReadAfterWriteDeps, type ResponseRewriter } from '../src/read-after-write/index.ts'
import { MAX_LOCAL_RECORDS } from '../src/read-after-write/local-records.ts'
import type { TimedRecordRow } from '../src/repo/record-index.ts'
import { createUser, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'
import type { TestPlc } from './helpers/plc.ts'

type User = Awaited<ReturnType<typeof createUser>>
type Ref = { uri: string; cid: string }
type PostView = AppBskyFeedDefs.PostView
type FeedItem = AppBskyFeedDefs.FeedViewPost

let plc: TestPlc
let pds: TestPds
let rw: ResponseRewriter

/** The rewriter as the proxy will get it: built from the running server's services. */
function rewriterFor(pds: TestPds, extra: Partial<ReadAfterWriteDeps> = {}): ResponseRewriter {
  const { ctx } = pds
  return createReadAfterWrite({
    records: ctx.records,
    repo: ctx.repo,
    accounts: ctx.accounts.store,
    log: ctx.log,
    publicUrl: ctx.cfg.publicUrl,
    ...extra,
  })
}

before(async () => {
  ;({ plc, pds } = await startServers())
  rw = rewriterFor(pds)
})
after(() => stopServers({ plc, pds }))

// --- the AppView's side: lexicon-valid answers built from what it would have indexed ---------------------------

// Times the AppView indexed what it knows: long before the local writes, so those are all newer.
const OLD = '2024-01-01T00:00:00.000Z'
const OLDER = '2023-01-01T00:00:00.000Z'

const revOf = (user: User) => pds.ctx.repo.root(user.did)!.rev

/** A record as stored, in lexicon JSON (raw fetch: @atproto/api would turn blob refs into objects). */
async function recordJson(uri: string): Promise<Record<string, unknown>> {
  const [, , repo, collection, rkey] = uri.split('/')
  const res = await xrpc(pds, 'com.atproto.repo.getRecord', { query: { repo, collection, rkey } })
  assert.equal(res.status, 200)
  return res.body.value
}

/** When this PDS indexed the record: what a local post view's indexedAt must be. */
function indexedAt(uri: string): string {
  const [, , did, collection, rkey] = uri.split('/')
  return (pds.ctx.records.get(did, collection, rkey) as TimedRecordRow).indexed_at
}

function author(user: User, displayName = 'Stale Name'): AppBskyActorDefs.ProfileViewBasic {
  return { did: user.did, handle: user.handle, displayName }
}

async function appViewPost(ref: Ref, by: AppBskyActorDefs.ProfileViewBasic, at: string): Promise<PostView> {
  return {
    uri: ref.uri,
    cid: ref.cid,
    author: by,
    record: await recordJson(ref.uri),
    likeCount: 3,
    replyCount: 1,
    repostCount: 0,
    quoteCount: 0,
    indexedAt: at,
    viewer: {},
    labels: [],
  }
}

/** The view this PDS should build for one of `user`'s local posts. */
async function localPostView(ref: Ref, by: AppBskyActorDefs.ProfileViewBasic, embed?: PostView['embed']): Promise<PostView> {
  return {
    uri: ref.uri,
    cid: ref.cid,
    author: by,
    record: await recordJson(ref.uri),
    likeCount: 0,
    replyCount: 0,
    repostCount: 0,
    quoteCount: 0,
    indexedAt: indexedAt(ref.uri),
    ...(embed ? { embed } : {}),
  }
}

const getBlobUrl = (did: string, cid: string) => `${pds.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`

type Rewritten = { body: any; headers?: Record<string, string> } | undefined

/**
 * Ask `rewriter` about an AppView answer for `user`, as the proxy will: `body` must be lexicon-valid (so a refusal
 * is the rewriter's own), and so must whatever comes back. `rev` undefined: the AppView sent no rev header.
 */
async function rewrite(
  nsid: string,
  user: User,
  body: unknown,
  rev: string | undefined,
  rewriter = rw,
): Promise<Rewritten> {
  assertValidJson(nsid, body)
  const upstreamHeaders = new Headers({ 'content-type': 'application/json; charset=utf-8' })
  if (rev !== undefined) upstreamHeaders.set('atproto-repo-rev', rev)
  const before = structuredClone(body)
  const out = await rewriter.rewrite({ nsid, did: user.did, params: new URLSearchParams(), upstreamHeaders, body })
  assert.deepEqual(body, before, 'the AppView answer itself is not modified')
  if (out) assertValidJson(nsid, out.body)
  return out
}

/** Valid as `nsid`'s output once read as lexicon JSON (`{ $bytes }` → bytes, `{ $link }` → CID), as clients read it. */
function assertValidJson(nsid: string, body: unknown) {
  lexicons.assertValidXrpcOutput(nsid, jsonToLex(body as never))
}

const uris = (feed: FeedItem[]) => feed.map((item) => item.post.uri)

function assertLagHeader(out: Rewritten) {
  assert.ok(out)
  assert.deepEqual(Object.keys(out.headers ?? {}), ['atproto-upstream-lag'])
  assert.match(out.headers!['atproto-upstream-lag'], /^\d+$/)
}

// --- the scenario -------------------------------------------------------------------------------------------------

describe('read-after-write', () => {
  let alice: User
  let bob: User
  // What the AppView has indexed: bob's post and reply, alice's first post.
  let b1: Ref
  let bobReply: Ref
  let a1: Ref
  let knownRev: string
  // What alice wrote after: a post, a like, a reply to bob's reply, a post with an image, a reply to her first post.
  let a2: Ref
  let a3: Ref
  let a4: Ref
  let a5: Ref
  let avatarCid: string
  let imageCid: string
  let fresh: AppBskyActorDefs.ProfileViewBasic

  before(async () => {
    alice = await createUser(pds)
    bob = await createUser(pds)
    b1 = await bob.agent.post({ text: 'bob says hi' })
    a1 = await alice.agent.post({ text: 'alice, first post' })
    bobReply = await bob.agent.post({ text: 'welcome!', reply: { root: a1, parent: a1 } })
    knownRev = revOf(alice)

    const avatar = await alice.agent.uploadBlob(Buffer.from('avatar bytes'), { encoding: 'image/png' })
    avatarCid = avatar.data.blob.ref.toString()
    await alice.agent.com.atproto.repo.putRecord({
      repo: alice.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: { $type: 'app.bsky.actor.profile', displayName: 'Alice Fresh', description: 'new bio', avatar: avatar.data.blob },
    })
    a2 = await alice.agent.post({ text: 'second post' })
    await alice.agent.like(b1.uri, b1.cid)
    a3 = await alice.agent.post({ text: 'thanks bob', reply: { root: a1, parent: bobReply } })
    const image = await alice.agent.uploadBlob(Buffer.from('image bytes'), { encoding: 'image/png' })
    imageCid = image.data.blob.ref.toString()
    a4 = await alice.agent.post({
      text: 'a picture',
      embed: {
        $type: 'app.bsky.embed.images',
        images: [{ image: image.data.blob, alt: 'a cat', aspectRatio: { width: 4, height: 3 } }],
      },
    })
    a5 = await alice.agent.post({ text: 'replying to myself', reply: { root: a1, parent: a1 } })
    fresh = { did: alice.did, handle: alice.handle, displayName: 'Alice Fresh', avatar: getBlobUrl(alice.did, avatarCid) }
  })

  const imagesView = () => ({
    $type: 'app.bsky.embed.images#view' as const,
    images: [
      {
        thumb: getBlobUrl(alice.did, imageCid),
        fullsize: getBlobUrl(alice.did, imageCid),
        alt: 'a cat',
        aspectRatio: { width: 4, height: 3 },
      },
    ],
  })

  /** Alice's timeline as the AppView knows it: her first post (with a signed label), then bob's older one. */
  async function staleTimeline(): Promise<{ feed: FeedItem[]; cursor: string }> {
    // JSON as the AppView sends it: the signature is `{ $bytes }`, which the lexicon only accepts decoded.
    const label = { ver: 1, src: bob.did, uri: a1.uri, val: 'spoiler', cts: OLD, sig: { $bytes: 'c2lnbmF0dXJl' } }
    const a1View = { ...(await appViewPost(a1, author(alice), OLD)), labels: [label as never] }
    return { feed: [{ post: a1View }, { post: await appViewPost(b1, author(bob), OLDER) }], cursor: 'page2' }
  }

  it('serves the six methods of the reference', () => {
    assert.deepEqual(
      [...rw.methods].sort(),
      [
        'app.bsky.actor.getProfile',
        'app.bsky.actor.getProfiles',
        'app.bsky.feed.getActorLikes',
        'app.bsky.feed.getAuthorFeed',
        'app.bsky.feed.getPostThread',
        'app.bsky.feed.getTimeline',
      ],
    )
  })

  it('getTimeline: newer own posts go on top, newest first, built from the local records', async () => {
    const original = await staleTimeline()
    const out = await rewrite('app.bsky.feed.getTimeline', alice, original, knownRev)
    assert.ok(out)
    assert.deepEqual(uris(out.body.feed), [a5.uri, a4.uri, a3.uri, a2.uri, a1.uri, b1.uri])
    assert.equal(out.body.cursor, 'page2')
    assertLagHeader(out)
    // Each added post is the reference's local post view: zero counts, the current profile as author, image URLs.
    assert.deepEqual(out.body.feed[1].post, await localPostView(a4, fresh, imagesView()))
    assert.deepEqual(out.body.feed[3].post, await localPostView(a2, fresh))
    // The timeline leaves the AppView's own items as they were, stale author included (as the reference does).
    assert.deepEqual(out.body.feed.slice(4), original.feed)
  })

  it('getTimeline: an AppView item newer than the local posts stays above them', async () => {
    const original = await staleTimeline()
    const future = { post: await appViewPost(b1, author(bob), '2999-01-01T00:00:00.000Z') }
    original.feed.unshift(future)
    const out = await rewrite('app.bsky.feed.getTimeline', alice, original, knownRev)
    assert.deepEqual(uris(out!.body.feed), [b1.uri, a5.uri, a4.uri, a3.uri, a2.uri, a1.uri, b1.uri])
  })

  it('getTimeline: a page whose last item is newer than the local posts gets none of them', async () => {
    const page = { feed: [{ post: await appViewPost(b1, author(bob), '2999-01-01T00:00:00.000Z') }] }
    const out = await rewrite('app.bsky.feed.getTimeline', alice, page, knownRev)
    assert.ok(out)
    assert.deepEqual(out.body, page)
  })

  it('the image URLs follow the AppView CDN pattern when one is configured', async () => {
    const cdn = rewriterFor(pds, { imageCdnUrlPattern: 'https://cdn.example.com/img/%s/plain/%s/%s@jpeg' })
    const out = await rewrite('app.bsky.feed.getTimeline', alice, await staleTimeline(), knownRev, cdn)
    const img = `https://cdn.example.com/img/%s/plain/${alice.did}/${imageCid}@jpeg`
    assert.deepEqual(out!.body.feed[1].post.embed.images[0], {
      thumb: img.replace('%s', 'feed_thumbnail'),
      fullsize: img.replace('%s', 'feed_fullsize'),
      alt: 'a cat',
      aspectRatio: { width: 4, height: 3 },
    })
    assert.equal(out!.body.feed[1].post.author.avatar, `https://cdn.example.com/img/avatar/plain/${alice.did}/${avatarCid}@jpeg`)
  })

  it('the getBlob URLs built without a CDN serve the blobs', async () => {
    const out = await rewrite('app.bsky.feed.getTimeline', alice, await staleTimeline(), knownRev)
    const res = await fetch(out!.body.feed[1].post.embed.images[0].fullsize)
    assert.equal(res.status, 200)
    assert.equal(Buffer.from(await res.arrayBuffer()).toString(), 'image bytes')
  })

  it('getAuthorFeed: on her own feed, her newer posts are added and her posts show her new profile', async () => {
    const original = { feed: [{ post: await appViewPost(a1, author(alice), OLD) }] }
    const out = await rewrite('app.bsky.feed.getAuthorFeed', alice, original, knownRev)
    assert.ok(out)
    assert.deepEqual(uris(out.body.feed), [a5.uri, a4.uri, a3.uri, a2.uri, a1.uri])
    assert.deepEqual(out.body.feed[4].post, { ...original.feed[0].post, author: fresh })
    assertLagHeader(out)
  })

  it('getAuthorFeed: a feed opening with her repost is hers too', async () => {
    const repost = {
      post: await appViewPost(b1, author(bob), OLD),
      reason: { $type: 'app.bsky.feed.defs#reasonRepost', by: author(alice), indexedAt: OLD },
    }
    const out = await rewrite('app.bsky.feed.getAuthorFeed', alice, { feed: [repost] }, knownRev)
    assert.deepEqual(uris(out!.body.feed), [a5.uri, a4.uri, a3.uri, a2.uri, b1.uri])
    // Bob's post keeps bob; the repost's `by` is left as the AppView has it, as in the reference.
    assert.deepEqual(out!.body.feed[4], repost)
  })

  it("getAuthorFeed: another user's feed, an empty feed, and one opening with a pinned post are left alone", async () => {
    const bobsFeed = { feed: [{ post: await appViewPost(b1, author(bob), OLD) }] }
    const pinned = {
      feed: [
        { post: await appViewPost(a1, author(alice), OLD), reason: { $type: 'app.bsky.feed.defs#reasonPin' } },
      ],
    }
    for (const original of [bobsFeed, { feed: [] }, pinned]) {
      const out = await rewrite('app.bsky.feed.getAuthorFeed', alice, original, knownRev)
      assert.ok(out)
      assert.deepEqual(out.body, original)
    }
  })

  it('getActorLikes: her liked posts show her new profile; her newer likes are not added (as the reference)', async () => {
    const original = {
      feed: [{ post: await appViewPost(b1, author(bob), OLD) }, { post: await appViewPost(a1, author(alice), OLDER) }],
    }
    const out = await rewrite('app.bsky.feed.getActorLikes', alice, original, knownRev)
    assert.ok(out)
    assert.deepEqual(out.body.feed, [original.feed[0], { post: { ...original.feed[1].post, author: fresh } }])
    assertLagHeader(out)
  })

  it('getPostThread: her newer replies go first under their parents, anywhere below the anchor', async () => {
    const bobReplyView = {
      $type: 'app.bsky.feed.defs#threadViewPost',
      post: await appViewPost(bobReply, author(bob), OLD),
      replies: [],
    }
    const original = {
      thread: { $type: 'app.bsky.feed.defs#threadViewPost', post: await appViewPost(a1, author(alice), OLDER), replies: [bobReplyView] },
    }
    const out = await rewrite('app.bsky.feed.getPostThread', alice, original, knownRev)
    assert.ok(out)
    const threadView = async (ref: Ref) => ({ $type: 'app.bsky.feed.defs#threadViewPost', post: await localPostView(ref, fresh) })
    assert.deepEqual(out.body.thread, {
      ...original.thread,
      replies: [await threadView(a5), { ...bobReplyView, replies: [await threadView(a3)] }],
    })
    assertLagHeader(out)
  })

  it("getPostThread: anchored at bob's reply, only the replies below it are added", async () => {
    const original = {
      thread: {
        $type: 'app.bsky.feed.defs#threadViewPost',
        post: await appViewPost(bobReply, author(bob), OLD),
        parent: { $type: 'app.bsky.feed.defs#threadViewPost', post: await appViewPost(a1, author(alice), OLDER) },
      },
    }
    const out = await rewrite('app.bsky.feed.getPostThread', alice, original, knownRev)
    assert.deepEqual(out!.body.thread.replies.map((r: any) => r.post.uri), [a3.uri])
    assert.deepEqual(out!.body.thread.parent, original.thread.parent)
  })

  it('getPostThread: another thread, or a not-found anchor, is left alone', async () => {
    const other = { thread: { $type: 'app.bsky.feed.defs#threadViewPost', post: await appViewPost(b1, author(bob), OLD) } }
    const notFound = { thread: { $type: 'app.bsky.feed.defs#notFoundPost', uri: a1.uri, notFound: true } }
    for (const original of [other, notFound]) {
      const out = await rewrite('app.bsky.feed.getPostThread', alice, original, knownRev)
      assert.deepEqual(out!.body, original)
    }
  })

  it('getProfile: her own profile comes from her newer profile record; a field the record lacks is removed', async () => {
    const original = {
      did: alice.did,
      handle: alice.handle,
      displayName: 'Stale Name',
      description: 'old bio',
      banner: 'https://cdn.example.com/old-banner.jpg',
      followersCount: 7,
      followsCount: 2,
      postsCount: 1,
      indexedAt: OLD,
      viewer: { muted: false },
    }
    const out = await rewrite('app.bsky.actor.getProfile', alice, original, knownRev)
    assert.ok(out)
    const { banner: _, ...rest } = original
    assert.deepEqual(out.body, { ...rest, displayName: 'Alice Fresh', description: 'new bio', avatar: fresh.avatar })
    assertLagHeader(out)
  })

  it("getProfile: someone else's profile is left alone", async () => {
    const original = { did: bob.did, handle: bob.handle, displayName: 'Bob' }
    const out = await rewrite('app.bsky.actor.getProfile', alice, original, knownRev)
    assert.deepEqual(out!.body, original)
  })

  it('getProfiles: only her own profile among them is refreshed', async () => {
    const bobView = { did: bob.did, handle: bob.handle, displayName: 'Bob' }
    const original = { profiles: [bobView, { did: alice.did, handle: alice.handle, displayName: 'Stale Name' }] }
    const out = await rewrite('app.bsky.actor.getProfiles', alice, original, knownRev)
    assert.deepEqual(out!.body.profiles, [
      bobView,
      { did: alice.did, handle: alice.handle, displayName: 'Alice Fresh', description: 'new bio', avatar: fresh.avatar },
    ])
  })

  it('nothing changes when the AppView is up to date, gives no rev, or gives a rev older than the whole repo', async () => {
    const timeline = await staleTimeline()
    const profile = { did: alice.did, handle: alice.handle, displayName: 'Stale Name' }
    // A rev older than every record: an account that moved here, say; the reference then trusts the AppView.
    const beforeEverything = '2222222222222'
    for (const rev of [revOf(alice), undefined, beforeEverything, '']) {
      assert.equal(await rewrite('app.bsky.feed.getTimeline', alice, timeline, rev), undefined, `rev ${rev}`)
      assert.equal(await rewrite('app.bsky.actor.getProfile', alice, profile, rev), undefined, `rev ${rev}`)
    }
  })

  it('methods it does not know are not touched', async () => {
    const feed = await staleTimeline()
    const out = await rw.rewrite({
      nsid: 'app.bsky.feed.getFeed',
      did: alice.did,
      params: new URLSearchParams(),
      upstreamHeaders: new Headers({ 'atproto-repo-rev': knownRev }),
      body: feed,
    })
    assert.equal(out, undefined)
  })

  it('answers that are not what the lexicon says come back undefined (unchanged), never an error', async () => {
    const post = await appViewPost(a1, author(alice), OLD)
    const garbage: [string, unknown][] = [
      ['app.bsky.feed.getTimeline', null],
      ['app.bsky.feed.getTimeline', 'a string'],
      ['app.bsky.feed.getTimeline', []],
      ['app.bsky.feed.getTimeline', { feed: 'not a list' }],
      ['app.bsky.feed.getTimeline', { feed: [{ post: {} }] }],
      ['app.bsky.feed.getTimeline', { feed: [{ post: { ...post, indexedAt: 'yesterday' } }] }],
      ['app.bsky.feed.getAuthorFeed', { feed: [{ post: { ...post, author: { did: alice.did } } }] }],
      ['app.bsky.feed.getActorLikes', { feed: [null] }],
      ['app.bsky.feed.getPostThread', { thread: { $type: 'app.bsky.feed.defs#threadViewPost' } }],
      ['app.bsky.feed.getPostThread', { thread: { $type: 'app.bsky.feed.defs#threadViewPost', post, replies: [{ post }] } }],
      ['app.bsky.feed.getPostThread', {}],
      ['app.bsky.actor.getProfile', { did: 'not a did', handle: alice.handle }],
      ['app.bsky.actor.getProfile', { did: alice.did }],
      ['app.bsky.actor.getProfiles', { profiles: [{ did: alice.did, handle: 42 }] }],
      ['app.bsky.actor.getProfiles', { profiles: {} }],
    ]
    for (const [nsid, body] of garbage) {
      const upstreamHeaders = new Headers({ 'atproto-repo-rev': knownRev })
      const out = await rw.rewrite({ nsid, did: alice.did, params: new URLSearchParams(), upstreamHeaders, body })
      assert.equal(out, undefined, `${nsid} ${JSON.stringify(body)}`)
    }
  })
})

describe('read-after-write: which local records count', () => {
  it(`reads at most ${MAX_LOCAL_RECORDS} records after the rev, of any collection, as the reference`, async () => {
    const bob = await createUser(pds)
    const carol = await createUser(pds)
    const b1 = await bob.agent.post({ text: 'likeable' })
    const c1 = await carol.agent.post({ text: 'known' })
    const revs = [pds.ctx.repo.root(carol.did)!.rev]
    for (let i = 0; i < MAX_LOCAL_RECORDS; i++) {
      await carol.agent.like(b1.uri, b1.cid)
      revs.push(pds.ctx.repo.root(carol.did)!.rev)
    }
    const c2 = await carol.agent.post({ text: 'after ten likes' })
    const timeline = { feed: [{ post: await appViewPost(c1, author(carol), OLD) }] }
    // Ten likes fill the budget: the post after them is not read, and with no post or profile read there is no lag.
    const out = await rewrite('app.bsky.feed.getTimeline', carol, timeline, revs[0])
    assert.ok(out)
    assert.deepEqual(out.body, timeline)
    assert.equal(out.headers, undefined)
    // From the first like on, the post is within the ten.
    const later = await rewrite('app.bsky.feed.getTimeline', carol, timeline, revs[1])
    assert.deepEqual(uris(later!.body.feed), [c2.uri, c1.uri])
    assertLagHeader(later)
  })

  it('posts that fail their lexicon (written with validate: false) are left out', async () => {
    const erin = await createUser(pds)
    const e1 = await erin.agent.post({ text: 'known' })
    const rev = pds.ctx.repo.root(erin.did)!.rev
    await erin.agent.com.atproto.repo.createRecord({
      repo: erin.did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 42, createdAt: 'not a date' },
      validate: false,
    })
    const e3 = await erin.agent.post({ text: 'valid again' })
    const timeline = { feed: [{ post: await appViewPost(e1, author(erin), OLD) }] }
    const out = await rewrite('app.bsky.feed.getTimeline', erin, timeline, rev)
    assert.deepEqual(uris(out!.body.feed), [e3.uri, e1.uri])
  })
})

describe('read-after-write: embeds of local posts', () => {
  // A stand-in AppView on loopback: answers getPosts for bob's post (after checking the caller's service JWT against
  // the PLC, as the real one does) and fails for anything else.
  const APPVIEW_DID = 'did:web:appview.test'
  let appView: http.Server
  let appViewUrl: string
  let bobPost: PostView
  const calls: { lxm: unknown; iss: string; uris: string | null }[] = []

  let dave: User
  let bob: User
  let b1: Ref
  let d1: Ref
  let rev: string

  before(async () => {
    dave = await createUser(pds)
    bob = await createUser(pds)
    b1 = await bob.agent.post({ text: 'quote me' })
    bobPost = await appViewPost(b1, author(bob, 'Bob'), OLD)
    appView = http.createServer(async (req, res) => {
      const url = new URL(req.url!, 'http://x')
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '')
      const payload = await verifyJwt(token, APPVIEW_DID, 'app.bsky.feed.getPosts', async (iss) => {
        const doc = await fetch(`${plc.url}/${encodeURIComponent(iss)}`)
        return ensureAtprotoKey((await doc.json()) as DidDocument)
      }).catch(() => null)
      calls.push({ lxm: payload?.lxm, iss: payload?.iss ?? '', uris: url.searchParams.get('uris') })
      if (!payload || url.pathname !== '/xrpc/app.bsky.feed.getPosts' || url.searchParams.get('uris') !== b1.uri) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"InternalServerError"}')
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ posts: [bobPost] }))
    })
    await new Promise<void>((resolve) => appView.listen(0, '127.0.0.1', resolve))
    appViewUrl = `http://127.0.0.1:${(appView.address() as AddressInfo).port}`
    d1 = await dave.agent.post({ text: 'known' })
    rev = pds.ctx.repo.root(dave.did)!.rev
  })
  after(() => new Promise<void>((resolve) => appView.close(() => resolve())))

  const withAppView = () =>
    rewriterFor(pds, { appView: { url: appViewUrl, did: APPVIEW_DID, serviceAuth: pds.ctx.serviceAuth } })
  const timeline = async () => ({ feed: [{ post: await appViewPost(d1, author(dave), OLD) }] })
  const quote = (ref: Ref) => ({ $type: 'app.bsky.embed.record' as const, record: { uri: ref.uri, cid: ref.cid } })

  it('a quoted post is looked up at the AppView with a service JWT of the caller, and shown as a viewRecord', async () => {
    const d2 = await dave.agent.post({ text: 'look at this', embed: quote(b1) })
    calls.length = 0
    const out = await rewrite('app.bsky.feed.getTimeline', dave, await timeline(), rev, withAppView())
    assert.deepEqual(calls, [{ lxm: 'app.bsky.feed.getPosts', iss: dave.did, uris: b1.uri }])
    assert.equal(out!.body.feed[0].post.uri, d2.uri)
    assert.deepEqual(out!.body.feed[0].post.embed, {
      $type: 'app.bsky.embed.record#view',
      record: {
        $type: 'app.bsky.embed.record#viewRecord',
        uri: b1.uri,
        cid: b1.cid,
        author: bobPost.author,
        value: bobPost.record,
        labels: [],
        indexedAt: OLD,
      },
    })
  })

  it('without an AppView, or when it fails, the quote shows as not found and the post is still added', async () => {
    const missing = { uri: `at://${bob.did}/app.bsky.feed.post/3zzzzzzzzzzzz`, cid: b1.cid }
    const d3 = await dave.agent.post({ text: 'quoting a ghost', embed: quote(missing) })
    for (const rewriter of [rw, withAppView()]) {
      const out = await rewrite('app.bsky.feed.getTimeline', dave, await timeline(), rev, rewriter)
      const added = out!.body.feed.find((item: FeedItem) => item.post.uri === d3.uri)
      assert.deepEqual(added.post.embed, {
        $type: 'app.bsky.embed.record#view',
        record: { $type: 'app.bsky.embed.record#viewNotFound', uri: missing.uri, notFound: true },
      })
    }
  })

  it('link cards and record-with-media get their views; a video gets none, as in the reference', async () => {
    const thumb = await dave.agent.uploadBlob(Buffer.from('thumb bytes'), { encoding: 'image/png' })
    const pic = await dave.agent.uploadBlob(Buffer.from('pic bytes'), { encoding: 'image/png' })
    const video = await dave.agent.uploadBlob(Buffer.from('video bytes'), { encoding: 'video/mp4' })
    const thumbCid = thumb.data.blob.ref.toString()
    const picCid = pic.data.blob.ref.toString()
    const card = { uri: 'https://example.com/a', title: 'A page', description: 'about it' }
    const d4 = await dave.agent.post({
      text: 'a link',
      embed: { $type: 'app.bsky.embed.external', external: { ...card, thumb: thumb.data.blob } },
    })
    const d5 = await dave.agent.post({
      text: 'quote with a picture',
      embed: {
        $type: 'app.bsky.embed.recordWithMedia',
        record: quote(b1),
        media: { $type: 'app.bsky.embed.images', images: [{ image: pic.data.blob, alt: '' }] },
      },
    })
    const d6 = await dave.agent.post({ text: 'a video', embed: { $type: 'app.bsky.embed.video', video: video.data.blob } })
    const out = await rewrite('app.bsky.feed.getTimeline', dave, await timeline(), rev, withAppView())
    const embedOf = (ref: Ref) => out!.body.feed.find((item: FeedItem) => item.post.uri === ref.uri).post.embed
    assert.deepEqual(embedOf(d4), {
      $type: 'app.bsky.embed.external#view',
      external: { ...card, thumb: getBlobUrl(dave.did, thumbCid) },
    })
    const d5Embed = embedOf(d5)
    assert.equal(d5Embed.$type, 'app.bsky.embed.recordWithMedia#view')
    assert.equal(d5Embed.record.record.$type, 'app.bsky.embed.record#viewRecord')
    assert.equal(d5Embed.record.record.uri, b1.uri)
    assert.deepEqual(d5Embed.media, {
      $type: 'app.bsky.embed.images#view',
      images: [{ thumb: getBlobUrl(dave.did, picCid), fullsize: getBlobUrl(dave.did, picCid), alt: '' }],
    })
    assert.equal(embedOf(d6), undefined)
  })
})
