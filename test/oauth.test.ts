// atproto OAuth end to end: a real OAuth client (@atproto/oauth-client-node, a loopback client) signs a user in through
// a real browser (Chromium) on the server's own sign-in and consent pages, then uses the DPoP-bound session through
// @atproto/api; and the resource and token endpoints refuse what they must (revoked or rotated tokens, missing scopes,
// replayed DPoP proofs, proofs from another key, a wrong PKCE verifier).
//
// The same cases run against each target server in TARGETS: Aurora, and with OAUTH_TEST_REFERENCE=1 also the reference
// PDS (@atproto/pds, which serves OAuth with @atproto/oauth-provider and its standard UI). The reference is the
// behaviour to match: the error bodies and headers asserted here are the ones it returns (checked that way when they
// were written; left out of the default run because starting it costs ~15 s).
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { Agent, AtpAgent } from '@atproto/api'
import { JoseKey } from '@atproto/jwk-jose'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { OAuthPageError, startOAuthHarness, type OAuthHarness, type RecordedRequest, type SignedIn } from './helpers/oauth.ts'
import { png } from './helpers/images.ts'
import { createUser, startPds, uniqueHandle } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { startReferencePds } from './helpers/reference-pds.ts'
import { CHROMIUM, skipWithout } from './helpers/system.ts'

/** OAUTH_TEST_REFERENCE=1: run every case against the reference PDS too, to check that the expectations are its. */
const ALSO_REFERENCE = process.env.OAUTH_TEST_REFERENCE === '1'

type Account = { did: string; handle: string; password: string; agent: AtpAgent }
/** A server under test: started on the test PLC directory, able to create a password account. */
type Target = {
  name: string
  start: (plcUrl: string) => Promise<{ url: string; createAccount: () => Promise<Account>; close: () => Promise<void> }>
}

const reference: Target = {
  name: 'reference PDS',
  async start(plcUrl) {
    const ref = await startReferencePds({ plcUrl })
    return {
      url: ref.url,
      close: ref.close,
      async createAccount() {
        const agent = new AtpAgent({ service: ref.url })
        const handle = uniqueHandle('oauth')
        const password = `pw-${handle}`
        const res = await agent.createAccount({ handle, password, email: `${handle.split('.')[0]}@example.org` })
        return { did: res.data.did, handle, password, agent }
      },
    }
  },
}

const aurora: Target = {
  name: 'Aurora',
  async start(plcUrl) {
    const pds = await startPds({ plcUrl })
    return { url: pds.url, close: pds.destroy, createAccount: () => createUser(pds, uniqueHandle('oauth')) }
  },
}

const TARGETS: Target[] = ALSO_REFERENCE ? [aurora, reference] : [aurora]

const FULL_SCOPE = 'atproto transition:generic'
const LIKE_ONLY_SCOPE = 'atproto repo:app.bsky.feed.like'

// Each browser step is bounded (test/helpers/oauth.ts); this bounds the rest (token exchanges, XRPC calls).
describe('OAuth end to end', { skip: skipWithout(CHROMIUM), timeout: 120_000 }, () => {
  let plc: TestPlc
  let harness: OAuthHarness // one browser and one callback server for every target

  before(async () => {
    plc = await startPlc()
    harness = await startOAuthHarness({ plcUrl: plc.url })
  })
  after(async () => {
    await harness?.close()
    await plc?.close()
  })

  for (const target of TARGETS) {
    describe(target.name, () => {
      let server: Awaited<ReturnType<Target['start']>>
      let user: Account
      // The full-scope session of the first case; the later cases refresh it, misuse it, then revoke it.
      let main: SignedIn | undefined

      before(async () => {
        server = await target.start(plc.url)
        user = await server.createAccount()
      })
      after(async () => {
        await server?.close()
      })

      const signedIn = () => {
        if (!main) throw new Error('the sign-in case did not run or failed')
        return main
      }

      it('signs in through the browser; the session posts, uploads a blob, keeps preferences', async () => {
        main = await harness.signIn({ pdsUrl: server.url, handle: user.handle, password: user.password, scope: FULL_SCOPE, screenshots: true })
        assert.equal(main.session.did, user.did)
        assert.equal(main.params.get('iss'), server.url, 'the callback names the issuer')
        for (const file of [main.screenshots.signIn, main.screenshots.consent]) assert.ok(file && statSync(file).size > 1000)
        const agent = new Agent(main.session)

        const session = await agent.com.atproto.server.getSession()
        assert.equal(session.data.did, user.did)
        assert.equal(session.data.handle, user.handle)

        const image = png(64)
        const uploaded = await agent.uploadBlob(image, { encoding: 'image/png' })
        const cid = CID.createV1(0x55, await sha256.digest(image)) // raw codec: a blob's CID is over its bytes
        assert.equal(uploaded.data.blob.ref.toString(), cid.toString())
        assert.equal(uploaded.data.blob.mimeType, 'image/png')
        assert.equal(uploaded.data.blob.size, image.length)

        const post = await agent.post({
          text: 'posted over OAuth',
          createdAt: new Date().toISOString(),
          embed: { $type: 'app.bsky.embed.images', images: [{ image: uploaded.data.blob, alt: 'one pixel' }] },
        })
        assert.ok(post.uri.startsWith(`at://${user.did}/app.bsky.feed.post/`))
        const record = await agent.com.atproto.repo.getRecord({ repo: user.did, collection: 'app.bsky.feed.post', rkey: post.uri.split('/').pop()! })
        assert.equal((record.data.value as { text: string }).text, 'posted over OAuth')
        const blob = await fetch(`${server.url}/xrpc/com.atproto.sync.getBlob?did=${user.did}&cid=${cid}`)
        assert.equal(blob.status, 200)
        assert.deepEqual(Buffer.from(await blob.arrayBuffer()), image)

        const prefs = [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }]
        await agent.app.bsky.actor.putPreferences({ preferences: prefs })
        assert.deepEqual((await agent.app.bsky.actor.getPreferences()).data.preferences, prefs)

        // Every XRPC call went out DPoP-bound: `Authorization: DPoP <token>` and a proof.
        const xrpc = main.requests.filter((r) => r.url.includes('/xrpc/com.atproto.server.getSession'))
        assert.ok(xrpc.length > 0)
        for (const r of xrpc) {
          assert.match(r.headers.authorization ?? '', /^DPoP ey/)
          assert.match(r.headers.dpop ?? '', /^ey/)
        }
      })

      it('refreshes the tokens; the new access token is used and the old one is refused', async () => {
        const { session, stored, requests } = signedIn()
        const before = stored().tokenSet
        const info = await session.getTokenInfo(true)
        const after = stored().tokenSet
        assert.equal(info.sub, user.did)
        assert.notEqual(after.access_token, before.access_token)
        assert.notEqual(after.refresh_token, before.refresh_token, 'refresh tokens rotate')
        assert.ok(requests.some((r) => r.url === `${server.url}/oauth/token` && r.status === 200))

        await new Agent(session).com.atproto.server.getSession()
        assert.equal(requests.at(-1)?.headers.authorization, `DPoP ${after.access_token}`)

        const old = await resourceGet(server.url, before.access_token, await dpopKey(signedIn()), requests)
        assert.equal(old.status, 401)
        assert.deepEqual(old.body, { error: 'invalid_token', message: 'Invalid token' })
        assertChallenge(old.headers, 'invalid_token', 'Invalid token')
      })

      it('refuses a replayed DPoP proof', async () => {
        const { session, requests } = signedIn()
        await new Agent(session).com.atproto.server.getSession()
        const sent = requests.at(-1)!
        assert.equal(sent.status, 200)
        // The very same request again, same proof (same jti).
        const res = await fetch(sent.url, { headers: { authorization: sent.headers.authorization, dpop: sent.headers.dpop } })
        assert.equal(res.status, 401)
        assert.deepEqual(await res.json(), { error: 'invalid_dpop_proof', message: 'DPoP proof replayed' })
        assertChallenge(res.headers, 'invalid_dpop_proof', 'DPoP proof replayed')
      })

      it('refuses the access token with a DPoP proof signed by another key', async () => {
        const { stored, requests } = signedIn()
        const token = stored().tokenSet.access_token
        const other = await JoseKey.generate(['ES256'])
        const res = await resourceGet(server.url, token, other, requests)
        assert.equal(res.status, 401)
        assert.deepEqual(res.body, { error: 'invalid_token', message: 'Invalid DPoP key binding' })
        assertChallenge(res.headers, 'invalid_token', 'Invalid DPoP key binding')
        // The same token with its own key still works: the refusal was about the key.
        const own = await resourceGet(server.url, token, await dpopKey(signedIn()), requests)
        assert.equal(own.status, 200)
        assert.equal((own.body as { did: string }).did, user.did)
      })

      it('signOut revokes the session: its access token is refused with a DPoP challenge', async () => {
        const signed = signedIn()
        const token = signed.stored().tokenSet.access_token
        const key = await dpopKey(signed)
        await signed.session.signOut()
        assert.ok(signed.requests.some((r) => r.url === `${server.url}/oauth/revoke` && r.status === 200))
        assert.equal(signed.sessions.size, 0, 'the client forgot the session')
        const res = await resourceGet(server.url, token, key, signed.requests)
        assert.equal(res.status, 401)
        assert.deepEqual(res.body, { error: 'invalid_token', message: 'Invalid token' })
        assertChallenge(res.headers, 'invalid_token', 'Invalid token')
      })

      it(`a session granted only "${LIKE_ONLY_SCOPE}" can like but not post, upload or read preferences`, async () => {
        const subject = await user.agent.post({ text: 'like me', createdAt: new Date().toISOString() })
        const limited = await harness.signIn({ pdsUrl: server.url, handle: user.handle, password: user.password, scope: LIKE_ONLY_SCOPE })
        assert.equal(limited.stored().tokenSet.scope, LIKE_ONLY_SCOPE)
        const agent = new Agent(limited.session)
        const like = await agent.like(subject.uri, subject.cid)
        assert.ok(like.uri.startsWith(`at://${user.did}/app.bsky.feed.like/`))

        await assert.rejects(agent.post({ text: 'not allowed', createdAt: new Date().toISOString() }), {
          status: 403,
          error: 'ScopeMissingError',
          message: 'Missing required scope "repo:app.bsky.feed.post?action=create"',
        })
        await assert.rejects(agent.uploadBlob(png(), { encoding: 'image/png' }), {
          status: 403,
          error: 'ScopeMissingError',
          message: 'Missing required scope "blob:image/png"',
        })
        await assert.rejects(agent.app.bsky.actor.getPreferences(), { status: 403, error: 'ScopeMissingError' })
        const posts = await user.agent.com.atproto.repo.listRecords({ repo: user.did, collection: 'app.bsky.feed.post' })
        assert.ok(!posts.data.records.some((r) => (r.value as { text: string }).text === 'not allowed'))
        await limited.session.signOut()
      })

      it('the sign-in page refuses a wrong password', async () => {
        const wrong = { pdsUrl: server.url, handle: user.handle, password: `not-${user.password}`, scope: FULL_SCOPE }
        await assert.rejects(harness.authorize(wrong), (err) => {
          assert.ok(err instanceof OAuthPageError, String(err))
          assert.equal(err.alert, 'Wrong identifier or password')
          return true
        })
      })

      it('refuses a wrong PKCE code verifier at the token endpoint, and the code is spent', async () => {
        const flow = await harness.authorize({ pdsUrl: server.url, handle: user.handle, password: user.password, scope: FULL_SCOPE })
        const tokenUrl = `${server.url}/oauth/token`
        const key = await JoseKey.fromJWK(flow.state.dpopJwk as Record<string, unknown>) // the key the request was bound to
        const body = new URLSearchParams({
          grant_type: 'authorization_code',
          code: flow.params.get('code')!,
          redirect_uri: flow.redirectUri,
          client_id: flow.client.clientMetadata.client_id!,
          code_verifier: randomBytes(32).toString('base64url'), // well-formed (43 chars), not the one hashed at PAR
        })
        assert.notEqual(body.get('code_verifier'), flow.state.verifier)
        const res = await withNonce(flow.requests, async (nonce) =>
          fetch(tokenUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await dpopProof(key, 'POST', tokenUrl, { nonce }) },
            body,
          }),
        )
        assert.equal(res.status, 400)
        assert.equal(res.headers.get('cache-control'), 'no-store')
        assert.deepEqual(await res.json(), { error: 'invalid_grant', error_description: 'Invalid code_verifier' })
        // The client's own exchange, with the right verifier, now fails too: the code was spent by the bad attempt.
        await assert.rejects(flow.client.callback(flow.params), (err: Error & { cause?: { error?: string; message?: string } }) => {
          assert.equal(err.cause?.error, 'invalid_grant')
          assert.match(err.cause?.message ?? '', /Invalid code/)
          return true
        })
      })
    })
  }
})

/** The session's DPoP key, as the client stored it (a private JWK). */
function dpopKey(signed: SignedIn): Promise<JoseKey> {
  return JoseKey.fromJWK(signed.stored().dpopJwk as Record<string, unknown>)
}

/**
 * A DPoP proof (RFC 9449 §4.2): typ dpop+jwt, the public key in the header, htm/htu of the request, a fresh jti, the
 * server's nonce, and `ath` (base64url SHA-256 of the access token) when one is presented.
 */
async function dpopProof(key: JoseKey, htm: string, htu: string, opts: { nonce?: string; token?: string }): Promise<string> {
  const alg = key.algorithms.find((a) => a.startsWith('ES'))
  if (!alg) throw new Error(`no signing algorithm for this key: ${key.algorithms}`)
  return key.createJwt(
    { alg, typ: 'dpop+jwt', jwk: key.bareJwk },
    {
      iat: Math.floor(Date.now() / 1000),
      jti: randomBytes(16).toString('hex'),
      htm,
      htu,
      nonce: opts.nonce,
      ath: opts.token ? createHash('sha256').update(opts.token).digest('base64url') : undefined,
    },
  )
}

/**
 * Send with the server's latest DPoP nonce (from the client's recorded exchanges); when the server answers
 * use_dpop_nonce (401 at a resource, 400 at the token endpoint), retry once with the nonce it gave.
 */
async function withNonce(requests: RecordedRequest[], send: (nonce: string | undefined) => Promise<Response>): Promise<Response> {
  const known = requests.findLast((r) => r.responseHeaders.has('dpop-nonce'))?.responseHeaders.get('dpop-nonce') ?? undefined
  const res = await send(known)
  const fresh = res.headers.get('dpop-nonce')
  const challenge = res.headers.get('www-authenticate') ?? ''
  const askedForNonce =
    (res.status === 401 && challenge.includes('error="use_dpop_nonce"')) ||
    (res.status === 400 && ((await res.clone().json().catch(() => ({}))) as { error?: string }).error === 'use_dpop_nonce')
  return askedForNonce && fresh ? send(fresh) : res
}

/** GET com.atproto.server.getSession with `Authorization: DPoP <token>` and a proof signed by `key`. */
async function resourceGet(pdsUrl: string, token: string, key: JoseKey, requests: RecordedRequest[]) {
  const url = `${pdsUrl}/xrpc/com.atproto.server.getSession`
  const res = await withNonce(requests, async (nonce) =>
    fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', url, { nonce, token }) } }),
  )
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown }
}

/** A DPoP challenge (RFC 9449 §7.1) naming the error: `DPoP algs="…", error="…", error_description="…"`. */
function assertChallenge(headers: Headers, error: string, description: string): void {
  const challenge = headers.get('www-authenticate') ?? ''
  assert.match(challenge, /^DPoP /)
  assert.match(challenge, /algs="[^"]*ES256[^"]*"/)
  assert.ok(challenge.includes(`error="${error}"`), challenge)
  assert.ok(challenge.includes(`error_description="${description}"`), challenge)
}
