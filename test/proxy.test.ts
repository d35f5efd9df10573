// Service proxying through a real Aurora server to stand-in services (test/helpers/service-standin.ts) that verify
// each service JWT against the caller's key in a real PLC directory: the calls the Bluesky app makes through
// @atproto/api, the atproto-proxy header (did:web and did:plc), streaming both ways, every bad input, the SSRF
// guard, the read-after-write hook and push registration.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { isPublicAddress } from '../src/proxy/address-class.ts'
import type { ResponseRewriter } from '../src/proxy/service-proxy.ts'
import { MAX_REWRITE_BYTES } from '../src/proxy/rewriter.ts'
import { ServiceTargets } from '../src/proxy/targets.ts'
import { UpstreamTransport } from '../src/proxy/upstream.ts'
import { InvalidRequestError } from '../src/errors.ts'
import { withTimeout } from '../src/util/net.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, freePort, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { createLogger } from '../src/logger.ts'
import { createServiceDid, FEED_GENERATOR_DID, ServiceStandIn, type Answer, type StandInCall } from './helpers/service-standin.ts'

type User = Awaited<ReturnType<typeof createUser>>
const bearer = (agent: AtpAgent) => ({ authorization: `Bearer ${agent.session!.accessJwt}` })
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** The last call the stand-in got, with its claims checked: signed by `user` for `service` and `nsid`. */
function assertSigned(call: StandInCall | undefined, user: User, service: ServiceStandIn, nsid: string): StandInCall {
  assert.ok(call, `the stand-in got ${nsid}`)
  assert.equal(call.authError, undefined, 'the service JWT verified against the key in the PLC directory')
  const claims = call.claims!
  assert.equal(claims.iss, user.did)
  assert.equal(claims.aud, service.did)
  assert.equal(claims.lxm, nsid)
  assert.match(claims.jti ?? '', /^[0-9a-f]{32}$/, 'a jti')
  assert.ok(claims.exp - (claims.iat ?? 0) <= 60, 'expires within a minute')
  assert.doesNotMatch(String(call.headers.authorization), new RegExp(user.agent.session!.accessJwt), 'never the user token')
  return call
}

describe('service proxying', () => {
  let plc: TestPlc
  let appView: ServiceStandIn
  let chat: ServiceStandIn
  let mod: ServiceStandIn
  let pds: TestPds
  let alice: User

  const rewriter: ResponseRewriter = {
    methods: new Set(['app.bsky.feed.getAuthorFeed']),
    async rewrite({ nsid, did, params, upstreamHeaders, body }) {
      const actor = params.get('actor')
      if (actor === 'decline') return undefined
      if (actor === 'explode') throw new Error('rewriter bug')
      const feed = (body as { feed: unknown[] }).feed
      return {
        body: { ...(body as object), feed: [...feed, { seenBy: { nsid, did, rev: upstreamHeaders.get('atproto-repo-rev') } }] },
        headers: { 'atproto-upstream-lag': '42' },
      }
    },
  }

  before(async () => {
    plc = await startPlc()
    ;[appView, chat, mod] = await Promise.all([1, 2, 3].map(() => ServiceStandIn.start(plc.url)))
    // The moderation service is a did:plc, as Bluesky's is: a real PLC operation lists its endpoint.
    mod.did = await createServiceDid(plc.url, { atproto_labeler: { type: 'AtprotoLabeler', endpoint: mod.url } })
    pds = await startPds({
      plcUrl: plc.url,
      rewriter,
      env: {
        PDS_BSKY_APP_VIEW_URL: appView.url,
        PDS_BSKY_APP_VIEW_DID: appView.did,
        PDS_CHAT_URL: chat.url,
        PDS_CHAT_DID: chat.did,
        PDS_MOD_SERVICE_URL: mod.url,
        PDS_MOD_SERVICE_DID: mod.did,
      },
    })
    alice = await createUser(pds)
  })
  after(async () => {
    await pds?.destroy()
    await Promise.all([appView, chat, mod].map((s) => s?.close()))
    await plc?.close()
  })

  describe('what the Bluesky app does, through @atproto/api', () => {
    it('getTimeline, getProfile and getPostThread reach the AppView, signed for the user', async () => {
      // The app sends every call with its AppView in atproto-proxy; the configured AppView is used as configured.
      const app = alice.agent.withProxy('bsky_appview', appView.did)
      const timeline = await app.app.bsky.feed.getTimeline({ limit: 7, cursor: 'c1' })
      assert.deepEqual(timeline.data, { feed: [], cursor: 'after-c1' })
      const call = assertSigned(appView.callsOf('app.bsky.feed.getTimeline').at(-1), alice, appView, 'app.bsky.feed.getTimeline')
      assert.deepEqual(call.params, { limit: '7', cursor: 'c1' })
      assert.equal(call.method, 'GET')

      const profile = await app.app.bsky.actor.getProfile({ actor: alice.did })
      assert.equal(profile.data.did, alice.did)
      assert.equal(profile.data.displayName, 'From the stand-in')
      assertSigned(appView.callsOf('app.bsky.actor.getProfile').at(-1), alice, appView, 'app.bsky.actor.getProfile')

      const uri = `at://${alice.did}/app.bsky.feed.post/3kxyzabcdefgh`
      const thread = await app.app.bsky.feed.getPostThread({ uri })
      assert.equal((thread.data.thread as { uri: string }).uri, uri)
      assertSigned(appView.callsOf('app.bsky.feed.getPostThread').at(-1), alice, appView, 'app.bsky.feed.getPostThread')
    })

    it("getFeed is signed for the feed's generator and its getFeedSkeleton, found through the AppView", async () => {
      const feed = `at://${alice.did}/app.bsky.feed.generator/whats-hot`
      const res = await alice.agent.app.bsky.feed.getFeed({ feed, limit: 5 })
      assert.deepEqual(res.data, { feed: [], cursor: 'feed-cursor' })
      const lookup = assertSigned(
        appView.callsOf('app.bsky.feed.getFeedGenerator').at(-1),
        alice,
        appView,
        'app.bsky.feed.getFeedGenerator',
      )
      assert.deepEqual(lookup.params, { feed })
      const call = appView.callsOf('app.bsky.feed.getFeed').at(-1)!
      assert.equal(call.authError, undefined, 'the token verified against the key in the PLC directory')
      assert.equal(call.claims!.iss, alice.did)
      assert.equal(call.claims!.aud, FEED_GENERATOR_DID)
      assert.equal(call.claims!.lxm, 'app.bsky.feed.getFeedSkeleton')
      assert.deepEqual(call.params, { feed, limit: '5' })

      // A feed the AppView does not know: its error, passed on; nothing sent for getFeed.
      const calls = appView.callsOf('app.bsky.feed.getFeed').length
      const unknown = await xrpc(pds, 'app.bsky.feed.getFeed', { query: { feed: 'not-a-feed' }, headers: bearer(alice.agent) })
      assert.equal(unknown.status, 400)
      assert.equal(unknown.body.error, 'UnknownFeed')
      const missing = await xrpc(pds, 'app.bsky.feed.getFeed', { headers: bearer(alice.agent) })
      assert.equal(missing.status, 400)
      assert.equal(missing.body.error, 'InvalidRequest')
      assert.equal(appView.callsOf('app.bsky.feed.getFeed').length, calls)
    })

    it('without the header app.bsky.* goes to the configured AppView', async () => {
      const before = appView.calls.length
      await alice.agent.app.bsky.feed.getTimeline()
      assert.equal(appView.calls.length, before + 1)
      assertSigned(appView.calls.at(-1), alice, appView, 'app.bsky.feed.getTimeline')
    })

    it('passes the reference headers both ways, and nothing else', async () => {
      const res = await xrpc(pds, 'app.bsky.feed.getTimeline', {
        headers: {
          ...bearer(alice.agent),
          'accept-language': 'fr, en;q=0.5',
          'atproto-accept-labelers': 'did:plc:labelerone;redact',
          'x-bsky-topics': 'dev',
          cookie: 'secret=1',
          'x-forwarded-for': '203.0.113.7',
        },
      })
      assert.equal(res.status, 200)
      const call = appView.calls.at(-1)!
      assert.equal(call.headers['accept-language'], 'fr, en;q=0.5')
      assert.equal(call.headers['atproto-accept-labelers'], 'did:plc:labelerone;redact')
      assert.equal(call.headers['x-bsky-topics'], 'dev')
      assert.equal(call.headers.cookie, undefined)
      assert.equal(call.headers['x-forwarded-for'], undefined)
      assert.equal(res.headers.get('atproto-repo-rev'), 'standin-rev')
      assert.equal(res.headers.get('content-language'), 'en')
      assert.equal(res.headers.get('atproto-content-labelers'), 'did:plc:labeler')
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
    })

    it('chat.bsky.convo.listConvos with the header the app sends (did:web resolved) and via the default', async () => {
      const viaHeader = alice.agent.withProxy('bsky_chat', chat.did)
      assert.deepEqual((await viaHeader.chat.bsky.convo.listConvos()).data, { convos: [] })
      assertSigned(chat.calls.at(-1), alice, chat, 'chat.bsky.convo.listConvos')

      const before = chat.calls.length
      assert.deepEqual((await alice.agent.chat.bsky.convo.listConvos()).data, { convos: [] })
      assert.equal(chat.calls.length, before + 1)
      assertSigned(chat.calls.at(-1), alice, chat, 'chat.bsky.convo.listConvos')
    })

    it('chat needs a real login or a privileged app password, as in the reference', async () => {
      const appPassword = async (privileged: boolean) => {
        const pw = await alice.agent.com.atproto.server.createAppPassword({ name: `chat-${privileged}`, privileged })
        const agent = pds.agent()
        await agent.login({ identifier: alice.handle, password: pw.data.password })
        return agent
      }
      const plain = await appPassword(false)
      const before = chat.calls.length
      // Every chat method, those the reference's list lacks included (reactions, accepting, groups).
      for (const [nsid, body] of [
        ['chat.bsky.convo.listConvos', undefined],
        ['chat.bsky.convo.addReaction', { convoId: 'c', messageId: 'm', value: '👍' }],
        ['chat.bsky.convo.acceptConvo', { convoId: 'c' }],
        ['chat.bsky.group.createGroup', { members: [] }],
      ] as const) {
        const refused = await xrpc(pds, nsid, { headers: bearer(plain), body })
        assert.equal(refused.status, 400, nsid)
        assert.equal(refused.body.error, 'InvalidToken', nsid)
        assert.equal(refused.body.message, 'Bad token method', nsid)
        const token = await plain.com.atproto.server.getServiceAuth({ aud: chat.did, lxm: nsid }).catch((e: Error) => e)
        assert.ok(token instanceof Error && /insufficient access/.test(token.message), `no token for ${nsid}`)
      }
      assert.equal(chat.calls.length, before, 'nothing was forwarded')
      // Other methods are fine with any app password.
      assert.equal((await xrpc(pds, 'app.bsky.feed.getTimeline', { headers: bearer(plain) })).status, 200)

      const privileged = await appPassword(true)
      assert.equal((await xrpc(pds, 'chat.bsky.convo.listConvos', { headers: bearer(privileged) })).status, 200)
    })

    it('createReport goes to the moderation service (a did:plc), with the body', async () => {
      const subject = { $type: 'com.atproto.admin.defs#repoRef', did: alice.did }
      const res = await alice.agent.com.atproto.moderation.createReport({
        reasonType: 'com.atproto.moderation.defs#reasonSpam',
        reason: 'stand-in test',
        subject,
      })
      assert.equal(res.data.reportedBy, alice.did)
      const call = assertSigned(mod.calls.at(-1), alice, mod, 'com.atproto.moderation.createReport')
      assert.equal(call.method, 'POST')
      assert.deepEqual(call.json, { reasonType: 'com.atproto.moderation.defs#reasonSpam', reason: 'stand-in test', subject })
      assert.match(String(call.headers['content-type']), /^application\/json/)
    })
  })

  describe('atproto-proxy', () => {
    it('names a did:plc whose document (a real PLC operation) lists the service', async () => {
      const labeler = await ServiceStandIn.start(plc.url)
      try {
        labeler.did = await createServiceDid(plc.url, { atproto_labeler: { type: 'AtprotoLabeler', endpoint: labeler.url } })
        const res = await xrpc(pds, 'com.example.labeler.getThing', {
          query: { id: '7' },
          headers: { ...bearer(alice.agent), 'atproto-proxy': `${labeler.did}#atproto_labeler` },
        })
        assert.equal(res.status, 200)
        const call = assertSigned(labeler.calls.at(-1), alice, labeler, 'com.example.labeler.getThing')
        assert.deepEqual(call.params, { id: '7' })
        assert.deepEqual(res.body.echo.params, { id: '7' })
        assert.equal(mod.callsOf('com.example.labeler.getThing').length, 0)
      } finally {
        await labeler.close()
      }
    })

    it('forwards any method with the header, procedures included, and aud is the DID without its fragment', async () => {
      const res = await xrpc(pds, 'com.example.custom.doThing', {
        body: { hello: 'world' },
        headers: { ...bearer(alice.agent), 'atproto-proxy': `${chat.did}#bsky_chat` },
      })
      assert.equal(res.status, 200)
      const call = assertSigned(chat.calls.at(-1), alice, chat, 'com.example.custom.doThing')
      assert.deepEqual(call.json, { hello: 'world' })
    })

    it('is ignored by methods this server serves, as in the reference', async () => {
      const before = appView.calls.length + chat.calls.length
      const res = await xrpc(pds, 'com.atproto.server.describeServer', { headers: { 'atproto-proxy': `${chat.did}#bsky_chat` } })
      assert.equal(res.status, 200)
      assert.equal(res.body.did, pds.ctx.cfg.serviceDid)
      // Preferences too when it names the configured AppView (what the app sends) ...
      await alice.agent.app.bsky.actor.putPreferences({ preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }] })
      const prefs = await alice.agent.withProxy('bsky_appview', appView.did).app.bsky.actor.getPreferences()
      assert.equal(prefs.data.preferences.length, 1)
      assert.equal(appView.calls.length + chat.calls.length, before, 'nothing forwarded')
      // ... but another AppView gets the preference calls, as the reference forwards them.
      const other = await xrpc(pds, 'app.bsky.actor.getPreferences', {
        headers: { ...bearer(alice.agent), 'atproto-proxy': `${chat.did}#bsky_appview` },
      })
      assert.equal(other.status, 200)
      assertSigned(chat.calls.at(-1), alice, chat, 'app.bsky.actor.getPreferences')
    })
  })

  describe('streaming', () => {
    const viaChat = () => ({ ...bearer(alice.agent), 'atproto-proxy': `${chat.did}#bsky_chat` })

    it('a request body larger than the JSON limit streams through, with or without a content-length', async () => {
      const body = new Uint8Array(randomBytes(600 * 1024)) // > PDS_MAX_REQUEST_BYTES (150 KiB)
      const sized = await fetch(`${pds.url}/xrpc/com.example.files.upload`, {
        method: 'POST',
        headers: { ...viaChat(), 'content-type': 'application/octet-stream' },
        body,
      })
      assert.equal(sized.status, 200)
      const echo = ((await sized.json()) as { echo: StandInCall }).echo
      assert.equal(echo.bodyBytes, body.length)
      assert.equal(echo.bodySha256, sha256(body))
      assert.equal(chat.calls.at(-1)!.headers['content-type'], 'application/octet-stream')

      const chunked = await fetch(`${pds.url}/xrpc/com.example.files.upload`, {
        method: 'POST',
        headers: { ...viaChat(), 'content-type': 'application/octet-stream' },
        body: streamOf([body.subarray(0, 300 * 1024), body.subarray(300 * 1024)]),
        duplex: 'half',
      } as RequestInit)
      assert.equal(chunked.status, 200)
      assert.equal(((await chunked.json()) as { echo: StandInCall }).echo.bodySha256, sha256(body))
    })

    it('a request body over PDS_PROXY_MAX_REQUEST_BYTES is refused with 413, declared or not', async () => {
      const max = pds.ctx.cfg.proxy.maxRequestBytes
      const before = chat.calls.length
      const declared = await fetch(`${pds.url}/xrpc/com.example.files.upload`, {
        method: 'POST',
        headers: { ...viaChat(), 'content-type': 'application/octet-stream' },
        body: new Uint8Array(max + 1),
      })
      assert.equal(declared.status, 413)
      assert.equal(((await declared.json()) as { error: string }).error, 'PayloadTooLarge')
      assert.equal(chat.calls.length, before, 'a declared oversize body is refused before any upstream call')

      const undeclared = await fetch(`${pds.url}/xrpc/com.example.files.upload`, {
        method: 'POST',
        headers: { ...viaChat(), 'content-type': 'application/octet-stream' },
        body: streamOf([new Uint8Array(max), new Uint8Array(64 * 1024)]),
        duplex: 'half',
      } as RequestInit)
      assert.equal(undeclared.status, 413)
      assert.equal(((await undeclared.json()) as { error: string }).error, 'PayloadTooLarge')
    })

    it('a large answer streams through: the client reads its start before the service has sent its end', async () => {
      const half = new Uint8Array(randomBytes(4 * 1024 * 1024))
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      chat.answer = (call) =>
        call.nsid !== 'com.example.files.download'
          ? undefined
          : {
              stream: async (res) => {
                res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(2 * half.length) })
                res.write(half)
                await released // the rest only once the client has seen bytes: no buffering proxy gets here
                res.end(half)
              },
            }
      try {
        const res = await fetch(`${pds.url}/xrpc/com.example.files.download`, { headers: viaChat() })
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('content-length'), String(2 * half.length))
        const reader = res.body!.getReader()
        const chunks: Uint8Array[] = []
        const first = await withTimeout(reader.read(), 10_000)
        chunks.push(first.value!)
        release()
        for (;;) {
          const { done, value } = await withTimeout(reader.read(), 10_000)
          if (done) break
          chunks.push(value)
        }
        const all = Buffer.concat(chunks)
        assert.equal(all.length, 2 * half.length)
        assert.equal(sha256(all), sha256(Buffer.concat([half, half])))
      } finally {
        chat.answer = () => undefined
      }
    })
  })

  describe('bad input', () => {
    const call = (nsid: string, headers: Record<string, string> = {}, opts: Parameters<typeof xrpc>[2] = {}) =>
      xrpc(pds, nsid, { ...opts, headers: { ...bearer(alice.agent), ...headers } })

    it('an unknown method with no service to send it to is the reference\'s 400 InvalidRequest, never 501', async () => {
      for (const nsid of ['com.example.foo.bar', 'com.atproto.unknown.thing']) {
        const res = await call(nsid)
        assert.equal(res.status, 400, nsid)
        assert.equal(res.body.error, 'InvalidRequest')
        assert.equal(res.body.message, `No service configured for ${nsid}`)
      }
      // Anonymous callers get the same answer: nothing to authenticate for.
      assert.equal((await xrpc(pds, 'com.example.foo.bar')).status, 400)
      assert.equal((await xrpc(pds, 'not-an-nsid')).body.message, 'invalid xrpc path')
    })

    it('a com.atproto method of the protocol this server does not serve is 501, not "no service"', async () => {
      const nsid = 'com.atproto.temp.requestPhoneVerification'
      const res = await call(nsid, {}, { body: { phoneNumber: '+15555550100' } })
      assert.equal(res.status, 501)
      assert.deepEqual(res.body, { error: 'MethodNotImplemented', message: `${nsid} is not served by this PDS` })
    })

    it('a published method called with the wrong HTTP method is refused before anything is sent', async () => {
      const before = appView.calls.length
      const post = await call('app.bsky.feed.getTimeline', {}, { body: {} })
      assert.equal(post.status, 400)
      assert.equal(post.body.message, 'Incorrect HTTP method (POST) expected GET')
      const get = await call('app.bsky.graph.muteActor')
      assert.equal(get.body.message, 'Incorrect HTTP method (GET) expected POST')
      assert.equal(appView.calls.length, before, 'the AppView was not called')
    })

    it('malformed atproto-proxy headers, with the reference\'s messages', async () => {
      const cases: [string, string][] = [
        ['did:web:example.com', 'no service id specified in proxy header'],
        ['did:web:example.com#', 'no service id specified in proxy header'],
        ['#bsky_appview', 'no did specified in proxy header'],
        ['did:web:example.com#a#b', 'invalid proxy header format'],
        ['did:web:example.com #svc', 'proxy header cannot contain spaces'],
        ['not-a-did#svc', 'invalid DID in proxy header: not-a-did'],
        ['did:plc:#svc', 'invalid DID in proxy header: did:plc:'],
      ]
      for (const [header, message] of cases) {
        const res = await call('app.bsky.feed.getTimeline', { 'atproto-proxy': header })
        assert.equal(res.status, 400, header)
        assert.deepEqual(res.body, { error: 'InvalidRequest', message }, header)
      }
    })

    it('a DID that does not resolve, or whose document lacks the service', async () => {
      const unknown = await call('app.bsky.feed.getTimeline', { 'atproto-proxy': 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#bsky_appview' })
      assert.deepEqual(unknown.body, { error: 'InvalidRequest', message: 'could not resolve proxy did' })
      const unsupported = await call('app.bsky.feed.getTimeline', {
        'atproto-proxy': 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme#svc',
      })
      assert.equal(unsupported.status, 400)
      assert.match(unsupported.body.message, /unsupported or malformed DID/)
      const lacking = await call('app.bsky.feed.getTimeline', { 'atproto-proxy': `${mod.did}#bsky_appview` })
      assert.deepEqual(lacking.body, { error: 'InvalidRequest', message: 'could not resolve proxy did service url' })
      // A did:web whose host is down: the document cannot be read, a 502 within the resolver's timeout.
      const down = await call('app.bsky.feed.getTimeline', { 'atproto-proxy': `did:web:localhost%3A${await freePort()}#svc` })
      assert.equal(down.status, 502)
      assert.equal(down.body.error, 'UpstreamFailure')
    })

    it('credentials: none, bad, or an admin password are refused before anything is forwarded', async () => {
      const before = appView.calls.length
      const none = await xrpc(pds, 'app.bsky.feed.getTimeline')
      assert.equal(none.status, 401)
      const bad = await xrpc(pds, 'app.bsky.feed.getTimeline', { headers: { authorization: 'Bearer not.a.token' } })
      assert.ok(bad.status === 400 || bad.status === 401, String(bad.status))
      const admin = await xrpc(pds, 'app.bsky.feed.getTimeline', { headers: { authorization: pds.adminAuth } })
      assert.equal(admin.status, 401)
      assert.equal(appView.calls.length, before)
    })

    it('a caller who may not call never has its body read', async () => {
      // A body that never ends: had the server waited for it, there would be no answer.
      const endless = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(1024)) })
      const refusal = fetch(`${pds.url}/xrpc/com.example.files.upload`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'atproto-proxy': `${chat.did}#bsky_chat` },
        body: endless,
        duplex: 'half',
      } as RequestInit)
      const res = await withTimeout(refusal, 10_000)
      assert.equal(res.status, 401)
      await res.body?.cancel()
    })

    it('account and identity methods are never forwarded (the reference\'s deny-list)', async () => {
      const before = appView.calls.length + chat.calls.length
      // Every one of them is served here now (sendEmail is the operator's: an account's login is refused), whatever
      // the header says; getServiceAuth refuses tokens for them (server-methods.test.ts).
      const res = await call('com.atproto.admin.sendEmail', { 'atproto-proxy': `${chat.did}#bsky_chat` }, { body: {} })
      assert.equal(res.status, 401)
      const served = await call('com.atproto.identity.signPlcOperation', { 'atproto-proxy': `${chat.did}#bsky_chat` }, { body: {} })
      assert.deepEqual(served.body, { error: 'InvalidRequest', message: 'email confirmation token required to sign PLC operations' })
      assert.equal(appView.calls.length + chat.calls.length, before)
    })

    it('only GET, HEAD and POST', async () => {
      const res = await fetch(`${pds.url}/xrpc/app.bsky.feed.getTimeline`, { method: 'PUT', headers: bearer(alice.agent) })
      assert.equal(res.status, 400)
      assert.deepEqual(await res.json(), { error: 'InvalidRequest', message: 'XRPC requests only supports GET and POST' })
      const head = await fetch(`${pds.url}/xrpc/app.bsky.feed.getTimeline`, { method: 'HEAD', headers: bearer(alice.agent) })
      assert.equal(head.status, 200)
      assert.equal(appView.calls.at(-1)!.method, 'HEAD')
    })
  })

  describe('read-after-write hook', () => {
    const getAuthorFeed = (actor: string, headers: Record<string, string> = {}) =>
      fetch(`${pds.url}/xrpc/app.bsky.feed.getAuthorFeed?actor=${actor}&limit=3`, { headers: { ...bearer(alice.agent), ...headers } })
    const feedAnswer = { status: 200, json: { feed: [], cursor: 'c' }, headers: { 'atproto-repo-rev': 'rev-1' } }

    it("rewrites its methods' JSON answers for the user, with what it needs to know", async () => {
      appView.answer = (c) => (c.nsid === 'app.bsky.feed.getAuthorFeed' ? feedAnswer : undefined)
      try {
        const res = await getAuthorFeed(alice.did, { 'accept-encoding': 'gzip, br' })
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('atproto-upstream-lag'), '42')
        assert.equal(res.headers.get('atproto-repo-rev'), 'rev-1')
        assert.deepEqual(await res.json(), {
          feed: [{ seenBy: { nsid: 'app.bsky.feed.getAuthorFeed', did: alice.did, rev: 'rev-1' } }],
          cursor: 'c',
        })
        assert.equal(appView.calls.at(-1)!.headers['accept-encoding'], 'identity', 'asked for an answer it can read')
      } finally {
        appView.answer = () => undefined
      }
    })

    it("answers from any other service than the configured AppView are never handed to it", async () => {
      // The chat stand-in answers like a lagging AppView would; the caller named it with atproto-proxy.
      chat.answer = (c) => (c.nsid === 'app.bsky.feed.getAuthorFeed' ? feedAnswer : undefined)
      try {
        const res = await getAuthorFeed(alice.did, { 'atproto-proxy': `${chat.did}#bsky_chat` })
        assert.equal(res.status, 200)
        assert.deepEqual(await res.json(), feedAnswer.json, 'not rewritten')
        assert.equal(res.headers.get('atproto-upstream-lag'), null)
        assert.equal(chat.calls.at(-1)!.nsid, 'app.bsky.feed.getAuthorFeed', 'it was the chat service that answered')
      } finally {
        chat.answer = () => undefined
      }
    })

    it('sends the upstream bytes unchanged when the rewriter declines or fails, or the answer is not JSON', async () => {
      const raw = '{"feed": [],   "cursor": "exact bytes"}'
      appView.answer = (c): Answer | undefined => {
        if (c.nsid !== 'app.bsky.feed.getAuthorFeed') return undefined
        if (c.params.actor === 'text') return { status: 200, raw: 'plain words', headers: { 'content-type': 'text/plain' } }
        return { status: 200, raw, headers: { 'content-type': 'application/json', 'atproto-repo-rev': 'rev-1' } }
      }
      try {
        for (const actor of ['decline', 'explode', 'text']) {
          const res = await getAuthorFeed(actor)
          assert.equal(res.status, 200, actor)
          assert.equal(await res.text(), actor === 'text' ? 'plain words' : raw, actor)
        }
      } finally {
        appView.answer = () => undefined
      }
    })

    it('an answer over the buffering cap streams through unchanged', async () => {
      const big = JSON.stringify({ feed: [], padding: 'x'.repeat(MAX_REWRITE_BYTES) })
      appView.answer = (c) => (c.nsid === 'app.bsky.feed.getAuthorFeed' ? { status: 200, raw: big, headers: { 'content-type': 'application/json', 'atproto-repo-rev': 'rev-1' } } : undefined)
      try {
        const res = await getAuthorFeed(alice.did)
        const text = await res.text()
        assert.equal(text.length, big.length)
        assert.equal(sha256(Buffer.from(text)), sha256(Buffer.from(big)))
        assert.equal(res.headers.get('atproto-upstream-lag'), null, 'not rewritten')
      } finally {
        appView.answer = () => undefined
      }
    })

    it('other methods are not buffered for it: their answers stream as they are', async () => {
      const res = await xrpc(pds, 'app.bsky.feed.getTimeline', { headers: { ...bearer(alice.agent), 'accept-encoding': 'gzip' } })
      assert.equal(res.headers.get('atproto-upstream-lag'), null)
      assert.equal(appView.calls.at(-1)!.headers['accept-encoding'], 'gzip', "the client's own choice")
    })
  })

  describe('registerPush and unregisterPush', () => {
    const push = (serviceDid: string) => ({ serviceDid, token: 'device-token', platform: 'ios', appId: 'xyz.blueskyweb.app' })

    it('go to the configured AppView when it is the serviceDid, signed for the user', async () => {
      await alice.agent.app.bsky.notification.registerPush(push(appView.did))
      const reg = assertSigned(appView.calls.at(-1), alice, appView, 'app.bsky.notification.registerPush')
      assert.deepEqual(reg.json, push(appView.did))
      await alice.agent.app.bsky.notification.unregisterPush(push(appView.did))
      const unreg = assertSigned(appView.calls.at(-1), alice, appView, 'app.bsky.notification.unregisterPush')
      assert.deepEqual(unreg.json, push(appView.did))
    })

    it("go to another service's #bsky_notif endpoint from its DID document", async () => {
      const before = appView.calls.length
      await alice.agent.app.bsky.notification.registerPush({ ...push(chat.did), ageRestricted: true })
      const call = assertSigned(chat.calls.at(-1), alice, chat, 'app.bsky.notification.registerPush')
      assert.deepEqual(call.json, { ...push(chat.did), ageRestricted: true })
      assert.equal(appView.calls.length, before)
    })

    it('refuse a service without a notification endpoint, pass on the service\'s own errors', async () => {
      const unknown = await xrpc(pds, 'app.bsky.notification.registerPush', {
        body: push('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'),
        headers: bearer(alice.agent),
      })
      assert.deepEqual(unknown.body, { error: 'InvalidRequest', message: 'could not resolve did document: did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' })
      const noNotif = await xrpc(pds, 'app.bsky.notification.registerPush', { body: push(mod.did), headers: bearer(alice.agent) })
      assert.deepEqual(noNotif.body, { error: 'InvalidRequest', message: `invalid notification service details in did document: ${mod.did}` })
      const badInput = await xrpc(pds, 'app.bsky.notification.registerPush', { body: { serviceDid: 'nope' }, headers: bearer(alice.agent) })
      assert.equal(badInput.status, 400)

      appView.answer = (c) => (c.nsid === 'app.bsky.notification.registerPush' ? { status: 400, json: { error: 'InvalidToken', message: 'bad device token' } } : undefined)
      try {
        const refused = await xrpc(pds, 'app.bsky.notification.registerPush', { body: push(appView.did), headers: bearer(alice.agent) })
        assert.equal(refused.status, 400)
        assert.deepEqual(refused.body, { error: 'InvalidToken', message: 'bad device token' })
      } finally {
        appView.answer = () => undefined
      }
    })
  })
})

describe('service proxying: a strict server (SSRF guard on) and services that misbehave', () => {
  let plc: TestPlc
  let faulty: ServiceStandIn
  let target: ServiceStandIn
  let pds: TestPds
  let bob: User
  /** The server's warn lines (pino writes each synchronously to this destination). */
  const warnings: { msg: string; nsid?: string; err?: string }[] = []
  const warned = new EventEmitter()
  /** The first warn line about `nsid`, once it is written (the client may see the cut before the server logs it). */
  async function lineFor(nsid: string) {
    for (;;) {
      const line = warnings.find((w) => w.nsid === nsid)
      if (line) return line
      await once(warned, 'line')
    }
  }

  before(async () => {
    plc = await startPlc()
    ;[faulty, target] = await Promise.all([ServiceStandIn.start(plc.url), ServiceStandIn.start(plc.url)])
    faulty.answer = misbehave
    pds = await startPds({
      plcUrl: plc.url,
      log: createLogger('warn', {
        destination: { write: (line: string) => void (warnings.push(JSON.parse(line)), warned.emit('line')) },
      }),
      env: {
        // A configured service is the operator's choice: trusted (plain http, loopback) even with the guard on.
        PDS_BSKY_APP_VIEW_URL: faulty.url,
        PDS_BSKY_APP_VIEW_DID: faulty.did,
        PDS_PROXY_SSRF_GUARD: 'true',
        PDS_PROXY_TIMEOUT_SECONDS: '1',
      },
    })
    bob = await createUser(pds)
  })
  after(async () => {
    await pds?.destroy()
    await Promise.all([faulty, target].map((s) => s?.close()))
    await plc?.close()
  })

  const call = (nsid: string, headers: Record<string, string> = {}) =>
    xrpc(pds, nsid, { headers: { ...bearer(bob.agent), ...headers } })

  it('an upstream that hangs, fails, answers garbage or hangs up: 504 or 502, and the server stays healthy', async () => {
    const expected: [string, number, string, string][] = [
      ['app.bsky.test.hang', 504, 'UpstreamTimeout', 'Upstream service did not answer within 1 s'],
      ['app.bsky.test.error500', 502, 'InternalServerError', 'boom'],
      ['app.bsky.test.html500', 502, 'UpstreamFailure', 'Upstream Failure'],
      ['app.bsky.test.garbage', 502, 'UpstreamFailure', ''],
      ['app.bsky.test.close', 502, 'UpstreamFailure', ''],
      ['app.bsky.test.switch', 502, 'UpstreamFailure', 'Upstream service answered 101 Switching Protocols'],
    ]
    for (const [nsid, status, error, message] of expected) {
      const res = await call(nsid)
      assert.equal(res.status, status, nsid)
      assert.equal(res.body.error, error, nsid)
      if (message) assert.equal(res.body.message, message, nsid)
    }
    assert.equal((await xrpc(pds, '_health')).status, 200)
    const ok = await call('app.bsky.test.fine')
    assert.equal(ok.status, 200)
    assertSigned(faulty.calls.at(-1), bob, faulty, 'app.bsky.test.fine')
  })

  it('an answer that breaks off or stalls mid-body is cut short for the client, within the timeout', async () => {
    const partial = (stall: boolean): Answer => ({
      stream: (res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
        // Breaking off: the connection ends (FIN) once the first bytes are out, 990 bytes short.
        res.write('{"feed": [', () => (stall ? undefined : res.socket?.end()))
      },
    })
    faulty.answer = (c) => (c.nsid === 'app.bsky.test.breaks' ? partial(false) : c.nsid === 'app.bsky.test.stalls' ? partial(true) : undefined)
    try {
      for (const nsid of ['app.bsky.test.breaks', 'app.bsky.test.stalls']) {
        const res = await fetch(`${pds.url}/xrpc/${nsid}`, { headers: bearer(bob.agent) })
        assert.equal(res.status, 200, nsid)
        await assert.rejects(withTimeout(res.text(), 10_000), /terminated/, nsid)
        // The operator sees why a user's timeline broke off.
        const line = await withTimeout(lineFor(nsid), 10_000)
        assert.ok(line, `a warn line for ${nsid}`)
        assert.match(line.msg, /proxied answer cut short: the upstream failed mid-answer/)
      }
    } finally {
      faulty.answer = misbehave
    }
    assert.equal((await xrpc(pds, '_health')).status, 200)
  })

  it('a client that goes away takes its upstream call with it', async () => {
    let hasArrived!: () => void
    let upstreamClosed!: () => void
    const arrived = new Promise<void>((resolve) => (hasArrived = resolve))
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve))
    faulty.answer = (c) => {
      if (c.nsid !== 'app.bsky.test.slow') return undefined
      hasArrived()
      return { stream: (res) => void res.on('close', upstreamClosed) } // never answered
    }
    try {
      const ac = new AbortController()
      const pending = fetch(`${pds.url}/xrpc/app.bsky.test.slow`, { headers: bearer(bob.agent), signal: ac.signal })
      await withTimeout(arrived, 10_000)
      ac.abort()
      await assert.rejects(pending)
      await withTimeout(closed, 10_000) // the upstream connection closes
    } finally {
      faulty.answer = misbehave
    }
  })

  it("passes the service's XRPC errors on, with their headers", async () => {
    const limited = await call('app.bsky.test.limited')
    assert.equal(limited.status, 429)
    assert.deepEqual(limited.body, { error: 'RateLimitExceeded', message: 'slow down' })
    assert.equal(limited.headers.get('retry-after'), '7')
    assert.equal(limited.headers.get('atproto-repo-rev'), 'r9')
    const notFound = await call('app.bsky.test.notFound')
    assert.equal(notFound.status, 400)
    assert.deepEqual(notFound.body, { error: 'NotFound', message: 'Actor not found' })
    const html = await call('app.bsky.test.html404')
    assert.equal(html.status, 404)
    assert.equal(html.body.error, 'XRPCNotSupported')
  })

  it('names the variables to set when a namespace has no service configured', async () => {
    const chat = await call('chat.bsky.convo.listConvos')
    assert.equal(chat.status, 400)
    assert.match(chat.body.message, /^No service configured for chat\.bsky\.convo\.listConvos: set PDS_CHAT_URL and PDS_CHAT_DID/)
    const report = await xrpc(pds, 'com.atproto.moderation.createReport', { body: {}, headers: bearer(bob.agent) })
    assert.match(report.body.message, /set PDS_MOD_SERVICE_URL and PDS_MOD_SERVICE_DID/)
    // And the AppView's, on a server with none (the choice is made before any network).
    const bare = new ServiceTargets({ services: {}, identity: pds.ctx.identity, guard: true })
    assert.throws(
      () => bare.choose('app.bsky.feed.getTimeline', undefined),
      (err: unknown) => err instanceof InvalidRequestError && /set PDS_BSKY_APP_VIEW_URL and PDS_BSKY_APP_VIEW_DID/.test(err.message),
    )
  })

  it('refuses DID-document endpoints that are not https or not public, checking the address it connects to', async () => {
    const port = new URL(target.url).port
    const cases: [string, RegExp][] = [
      [`http://localhost:${port}`, /must use https/],
      // A name: allowed until its address is looked up when connecting, which is loopback; the answer does not say
      // which address (that would look up internal names for anyone).
      [`https://localhost:${port}`, /^service endpoint refused: not a public address$/],
      [`https://127.0.0.1:${port}`, /refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, a loopback address/],
      [`https://[::ffff:7f00:1]:${port}`, /a loopback address/],
      ['https://10.1.2.3', /a private address/],
      ['https://169.254.169.254', /a linkLocal address/],
      ['https://[fd00::1]', /a uniqueLocal address/],
    ]
    for (const [endpoint, message] of cases) {
      const did = await createServiceDid(plc.url, { svc: { type: 'SomeService', endpoint } })
      const res = await call('com.example.ssrf.probe', { 'atproto-proxy': `${did}#svc` })
      assert.equal(res.status, 400, endpoint)
      assert.equal(res.body.error, 'InvalidRequest', endpoint)
      assert.match(res.body.message, message, endpoint)
    }
    assert.equal(target.calls.length, 0, 'nothing reached the loopback service')
  })

  it('the transport checks the resolved address of a name at connect time; unguarded endpoints connect', async () => {
    const transport = new UpstreamTransport()
    try {
      const send = (url: string, guarded: boolean) =>
        transport.send({ url: new URL(`${url}/xrpc/com.example.x`), method: 'GET', headers: {}, guarded, timeoutMs: 5000 })
      const port = new URL(target.url).port
      await assert.rejects(send(`https://localhost:${port}`, true), (err: unknown) => err instanceof InvalidRequestError && /not a public address/.test(err.message))
      await assert.rejects(send(`http://localhost:${port}`, true), (err: unknown) => err instanceof InvalidRequestError)
      const res = await send(`http://localhost:${port}`, false)
      assert.equal(res.statusCode, 401, 'reached the stand-in (which wants a service JWT)')
      res.resume()
      assert.equal(isPublicAddress('127.0.0.1'), false)
    } finally {
      transport.close()
    }
  })
})

/** The faulty stand-in's answers, by method. */
function misbehave(c: StandInCall): Answer | undefined {
  switch (c.nsid) {
    case 'app.bsky.test.hang':
      return 'hang'
    case 'app.bsky.test.garbage':
      return 'garbage'
    case 'app.bsky.test.close':
      return 'close'
    case 'app.bsky.test.error500':
      return { status: 500, json: { error: 'InternalServerError', message: 'boom' } }
    case 'app.bsky.test.html500':
      return { status: 500, raw: '<html>oops</html>', headers: { 'content-type': 'text/html' } }
    case 'app.bsky.test.html404':
      return { status: 404, raw: '<html>no</html>', headers: { 'content-type': 'text/html' } }
    case 'app.bsky.test.limited':
      return { status: 429, json: { error: 'RateLimitExceeded', message: 'slow down' }, headers: { 'retry-after': '7', 'atproto-repo-rev': 'r9' } }
    case 'app.bsky.test.notFound':
      return { status: 400, json: { error: 'NotFound', message: 'Actor not found' } }
    case 'app.bsky.test.switch':
      // An answer node destroys the request for (no upgrade asked for), after which the request emits nothing.
      return { stream: (res) => void res.socket?.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n') }
  }
  return undefined
}

/** A request body stream of the given chunks. */
function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c)
      controller.close()
    },
  })
}
