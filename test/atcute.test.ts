// A second, independent client library against Aurora: @atcute/client (with the @atcute/bluesky and
// @atcute/atproto lexicons, whose schemas validate what comes back). Logs in with createSession, round-trips
// preferences, and reaches a stand-in AppView through the proxy, as an app built on it would.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AppBskyActorGetPreferences, AppBskyActorGetProfile, AppBskyFeedGetTimeline } from '@atcute/bluesky'
import { ComAtprotoServerCreateSession } from '@atcute/atproto'
import { Client, ok, simpleFetchHandler, type FetchHandler } from '@atcute/client'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, type TestPds } from './helpers/pds.ts'
import { ServiceStandIn } from './helpers/service-standin.ts'

describe('@atcute/client against Aurora', () => {
  let plc: TestPlc
  let appView: ServiceStandIn
  let pds: TestPds
  let rpc: Client
  let did: string

  before(async () => {
    plc = await startPlc()
    appView = await ServiceStandIn.start(plc.url)
    pds = await startPds({
      plcUrl: plc.url,
      env: { PDS_BSKY_APP_VIEW_URL: appView.url, PDS_BSKY_APP_VIEW_DID: appView.did },
    })
    const user = await createUser(pds)
    // Log in the way an atcute app without @atcute/password-session does: createSession, then a bearer handler.
    const anonymous = new Client({ handler: simpleFetchHandler({ service: pds.url }) })
    const session = await ok(
      anonymous.call(ComAtprotoServerCreateSession, { input: { identifier: user.handle, password: user.password } }),
    )
    assert.equal(session.did, user.did)
    did = session.did
    const fetchPds = simpleFetchHandler({ service: pds.url })
    const authed: FetchHandler = (pathname, init) => {
      const headers = new Headers(init.headers)
      headers.set('authorization', `Bearer ${session.accessJwt}`)
      return fetchPds(pathname, { ...init, headers })
    }
    rpc = new Client({ handler: authed })
  })
  after(async () => {
    await pds?.destroy()
    await appView?.close()
    await plc?.close()
  })

  it('round-trips preferences (served by Aurora itself)', async () => {
    const preferences = [
      { $type: 'app.bsky.actor.defs#adultContentPref' as const, enabled: false },
      { $type: 'app.bsky.actor.defs#savedFeedsPrefV2' as const, items: [{ id: '3l6x', type: 'timeline' as const, value: 'following', pinned: true }] },
    ]
    assert.deepEqual((await ok(rpc.call(AppBskyActorGetPreferences, { params: {} }))).preferences, [])
    await ok(rpc.post('app.bsky.actor.putPreferences', { input: { preferences }, as: null }))
    const got = await ok(rpc.call(AppBskyActorGetPreferences, { params: {} }))
    assert.deepEqual(got.preferences, preferences)
    assert.equal(appView.calls.length, 0, 'preferences never leave the PDS')
  })

  it('reaches the AppView through the proxy: getProfile and getTimeline, validated against the lexicons', async () => {
    const profile = await ok(rpc.call(AppBskyActorGetProfile, { params: { actor: did as `did:plc:${string}` } }))
    assert.equal(profile.did, did)
    assert.equal(profile.displayName, 'From the stand-in')
    const timeline = await ok(rpc.call(AppBskyFeedGetTimeline, { params: { limit: 5 } }))
    assert.deepEqual(timeline.feed, [])

    // The same with the proxy header an app sets for its AppView.
    const viaProxy = rpc.clone({ proxy: `${appView.did as `did:web:${string}`}#bsky_appview` })
    await ok(viaProxy.call(AppBskyFeedGetTimeline, { params: {} }))
    const calls = appView.calls.map((c) => [c.nsid, c.claims?.iss, c.claims?.aud, c.claims?.lxm, c.authError])
    assert.deepEqual(calls, [
      ['app.bsky.actor.getProfile', did, appView.did, 'app.bsky.actor.getProfile', undefined],
      ['app.bsky.feed.getTimeline', did, appView.did, 'app.bsky.feed.getTimeline', undefined],
      ['app.bsky.feed.getTimeline', did, appView.did, 'app.bsky.feed.getTimeline', undefined],
    ])
    assert.equal(appView.calls[2].headers['atproto-proxy'], undefined, 'the header is ours to read, not forwarded')
  })

  it('gets XRPC errors it can switch on', async () => {
    const res = await rpc.get('app.bsky.feed.getTimeline', { params: {}, headers: { 'atproto-proxy': 'did:web:nowhere#' } })
    assert.equal(res.ok, false)
    assert.equal(res.status, 400)
    if (!res.ok) assert.deepEqual(res.data, { error: 'InvalidRequest', message: 'no service id specified in proxy header' })
  })
})
