// The OAuth authorization server (src/oauth/): its metadata documents and keys, pushed authorization requests with
// their error paths (DPoP nonce handshake, PKCE, redirect URIs, client metadata fetched from a local https server),
// the token store's rotation and replay rules, sessions ended by takedown, password reset and deletion, the status
// page's count and the doctor's check. The sign-in in a browser and OAuth tokens on XRPC calls are test/oauth.test.ts.
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { parseConfig } from '../src/config/index.ts'
import { runDoctor } from '../src/doctor/checks.ts'
import { oauthResult } from '../src/doctor/checks/oauth.ts'
import { clientFetch } from '../src/oauth/safe-fetch.ts'
import { assertConfigRefuses, PRODUCTION_SECRETS } from './helpers/config.ts'
import { createUser, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'
import { png } from './helpers/images.ts'
import type { TestPlc } from './helpers/plc.ts'

const REDIRECT = 'http://127.0.0.1:8123/callback'
const LOOPBACK_CLIENT = `http://localhost?redirect_uri=${encodeURIComponent(REDIRECT)}&scope=${encodeURIComponent('atproto transition:generic')}`

/** A DPoP key and proofs for it (RFC 9449), as an OAuth client makes them. */
async function dpopKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const jwk: JWK = await exportJWK(publicKey)
  return {
    proof: (htm: string, htu: string, nonce?: string, jti = randomUUID()) =>
      new SignJWT({ htm, htu, jti, ...(nonce ? { nonce } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(privateKey),
  }
}

/** A fresh PKCE pair (RFC 7636, S256): the provider refuses a challenge it has seen before. */
function newPkce() {
  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  return { verifier, params: { code_challenge: challenge, code_challenge_method: 'S256' } }
}

type RawAnswer = { status: number; type: string; body: string; setCookies: string[] }

/**
 * A request with the headers a browser sends and fetch() cannot (Sec-Fetch-*, Origin, Cookie): how the sign-in
 * pages' own scripts call the provider.
 */
function browserRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () =>
        resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body, setCookies: res.headers['set-cookie'] ?? [] }),
      )
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

const NAVIGATE = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'none' }

/** GET `url` as a browser's top-level navigation. */
const navigate = (url: string) => browserRequest(url, { headers: NAVIGATE })

type ParAnswer = { status: number; body: any; nonce: string | null; headers: Headers }

/** POST /oauth/par as a public client with a DPoP proof (`nonce` when the server handed one out). */
async function par(pds: TestPds, params: Record<string, string>, proof: string): Promise<ParAnswer> {
  const res = await fetch(`${pds.url}/oauth/par`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
    body: new URLSearchParams(params),
  })
  return { status: res.status, body: await res.json(), nonce: res.headers.get('dpop-nonce'), headers: res.headers }
}

/** A PAR through the nonce handshake: first without a nonce, then with the one the server sent. */
async function parWithNonce(pds: TestPds, params: Record<string, string>): Promise<ParAnswer> {
  const key = await dpopKey()
  const htu = `${pds.url}/oauth/par`
  const first = await par(pds, params, await key.proof('POST', htu))
  if (first.body?.error !== 'use_dpop_nonce') return first
  return par(pds, params, await key.proof('POST', htu, first.nonce!))
}

/** An OAuth client's DPoP side: one key, the server's latest nonce, and a retry when the server asks for a fresh one. */
async function dpopClient(pds: TestPds) {
  const key = await dpopKey()
  let nonce: string | undefined
  return {
    async post(endpoint: string, params: Record<string, string>): Promise<{ status: number; body: any }> {
      for (let attempt = 0; ; attempt++) {
        const url = `${pds.url}${endpoint}`
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await key.proof('POST', url, nonce) },
          body: new URLSearchParams(params),
        })
        nonce = res.headers.get('dpop-nonce') ?? nonce
        const body: any = await res.json().catch(() => undefined)
        if (body?.error === 'use_dpop_nonce' && attempt === 0) continue
        return { status: res.status, body }
      }
    },
  }
}

/** Cookies from Set-Cookie headers, merged into `jar`. */
function keepCookies(jar: Map<string, string>, setCookies: string[]): void {
  for (const c of setCookies) {
    const [pair] = c.split(';')
    const eq = pair.indexOf('=')
    jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
  }
}

/**
 * An authorization request opened as a browser would: PAR, then the authorize page (device and CSRF cookies). `api`
 * calls the page's API (/@atproto/oauth-provider/~api/...) as its scripts do; `exchange` trades a code for tokens.
 */
async function openAuthorizePage(pds: TestPds) {
  const client = await dpopClient(pds)
  const pkce = newPkce()
  const pushed = await client.post('/oauth/par', authorizeParams(LOOPBACK_CLIENT, pkce.params))
  assert.equal(pushed.status, 201, JSON.stringify(pushed.body))
  const pageUrl = `${pds.url}/oauth/authorize?client_id=${encodeURIComponent(LOOPBACK_CLIENT)}&request_uri=${encodeURIComponent(pushed.body.request_uri)}`
  const page = await navigate(pageUrl)
  assert.equal(page.status, 200, page.body.slice(0, 300))
  const jar = new Map<string, string>()
  keepCookies(jar, page.setCookies)
  // `input` undefined: a GET (the account pages' lists), with any query in `endpoint`.
  const api = async (endpoint: string, input?: unknown): Promise<{ status: number; body: any }> => {
    const res = await browserRequest(`${pds.url}/@atproto/oauth-provider/~api${endpoint}`, {
      method: input === undefined ? 'GET' : 'POST',
      headers: {
        'content-type': 'application/json',
        origin: new URL(pds.url).origin,
        referer: pageUrl,
        'sec-fetch-mode': 'same-origin',
        'sec-fetch-site': 'same-origin',
        'sec-fetch-dest': 'empty',
        'x-csrf-token': jar.get('csrf-token') ?? '',
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
      },
      body: input === undefined ? undefined : JSON.stringify(input),
    })
    keepCookies(jar, res.setCookies)
    return { status: res.status, body: JSON.parse(res.body) }
  }
  const exchange = (code: string) =>
    client.post('/oauth/token', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: pkce.verifier,
      client_id: LOOPBACK_CLIENT,
    })
  return { client, api, exchange }
}

/**
 * The whole authorization code flow without a browser, as the provider's own pages drive it: the sign-in API, the
 * consent API (its redirect URL carries the code), and the token request. Returns the tokens, or the sign-in API's
 * refusal.
 */
async function authorize(pds: TestPds, username: string, password: string): Promise<SignIn> {
  const { client, api, exchange } = await openAuthorizePage(pds)
  const signedIn = await api('/sign-in', { locale: 'en', username, password, remember: true })
  if (signedIn.status !== 200) return { ok: false, refused: signedIn.body }
  const consent = await api('/consent', { did: signedIn.body.account.did })
  assert.equal(consent.status, 200, JSON.stringify(consent.body))
  const code = new URL(consent.body.url).searchParams.get('code')
  assert.ok(code, consent.body.url)
  const token = await exchange(code)
  assert.equal(token.status, 200, JSON.stringify(token.body))
  const refresh = (refreshToken: string) =>
    client.post('/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: LOOPBACK_CLIENT })
  return { ok: true, account: signedIn.body.account, tokens: token.body, refresh, client, api }
}

type SignIn =
  | { ok: false; refused: { error: string; error_description: string } }
  | {
      ok: true
      account: { did: string; handle: string; name?: string; picture?: string }
      tokens: Record<string, string>
      refresh: (refreshToken: string) => Promise<{ status: number; body: any }>
      client: Awaited<ReturnType<typeof dpopClient>>
      /** The signed-in page's API, as its account pages call it. */
      api: Awaited<ReturnType<typeof openAuthorizePage>>['api']
    }

/** `authorize` that must succeed. */
async function signIn(pds: TestPds, username: string, password: string) {
  const flow = await authorize(pds, username, password)
  if (!flow.ok) assert.fail(`sign-in refused: ${JSON.stringify(flow.refused)}`)
  return flow
}

/** `authorize` that must be refused: the refusal's description. */
async function refusedSignIn(pds: TestPds, username: string, password: string): Promise<string> {
  const flow = await authorize(pds, username, password)
  if (flow.ok) assert.fail('sign-in accepted')
  return flow.refused.error_description
}

const authorizeParams = (clientId: string, extra: Record<string, string> = {}) => ({
  client_id: clientId,
  response_type: 'code',
  redirect_uri: REDIRECT,
  scope: 'atproto transition:generic',
  state: randomBytes(8).toString('hex'),
  ...newPkce().params,
  ...extra,
})

describe('OAuth authorization server', () => {
  let plc: TestPlc
  let pds: TestPds

  before(async () => {
    ;({ plc, pds } = await startServers())
  })
  after(() => stopServers({ plc, pds }))

  it('serves the authorization server metadata with the public URL as issuer', async () => {
    const res = await fetch(`${pds.url}/.well-known/oauth-authorization-server`)
    assert.equal(res.status, 200)
    const meta = (await res.json()) as Record<string, any>
    const issuer = pds.ctx.cfg.publicUrl
    assert.equal(meta.issuer, issuer)
    assert.equal(meta.pushed_authorization_request_endpoint, `${issuer}/oauth/par`)
    assert.equal(meta.authorization_endpoint, `${issuer}/oauth/authorize`)
    assert.equal(meta.token_endpoint, `${issuer}/oauth/token`)
    assert.equal(meta.revocation_endpoint, `${issuer}/oauth/revoke`)
    assert.equal(meta.jwks_uri, `${issuer}/oauth/jwks`)
    assert.equal(meta.require_pushed_authorization_requests, true)
    assert.equal(meta.client_id_metadata_document_supported, true)
    assert.ok(meta.dpop_signing_alg_values_supported.includes('ES256'))
    assert.ok(meta.code_challenge_methods_supported.includes('S256'))
    assert.ok(meta.scopes_supported.includes('atproto'))
    assert.deepEqual(meta.protected_resources, [issuer])
  })

  it('serves the protected resource metadata to any origin, naming itself as authorization server', async () => {
    const res = await fetch(`${pds.url}/.well-known/oauth-protected-resource`, { headers: { origin: 'https://app.example' } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
    const meta = (await res.json()) as Record<string, any>
    assert.equal(meta.resource, pds.ctx.cfg.publicUrl)
    assert.deepEqual(meta.authorization_servers, [pds.ctx.cfg.publicUrl])
  })

  it('publishes the ES256 public key, never its private part, and XRPC 404s are unchanged', async () => {
    const jwks = (await (await fetch(`${pds.url}/oauth/jwks`)).json()) as { keys: Record<string, unknown>[] }
    assert.equal(jwks.keys.length, 1)
    const [key] = jwks.keys
    assert.equal(key.kty, 'EC')
    assert.equal(key.crv, 'P-256')
    assert.equal(key.alg, 'ES256')
    assert.equal(typeof key.kid, 'string')
    assert.equal(key.d, undefined)
    assert.equal((await xrpc(pds, 'com.atproto.server.describeServer')).status, 200)
    const notFound = await fetch(`${pds.url}/no/such/page`)
    assert.equal(notFound.status, 404)
    assert.deepEqual(await notFound.json(), { error: 'NotFound', message: 'Not Found' })
  })

  it('answers a first PAR with use_dpop_nonce, then accepts it with the nonce (loopback client)', async () => {
    const key = await dpopKey()
    const htu = `${pds.url}/oauth/par`
    const params = authorizeParams(LOOPBACK_CLIENT)
    const first = await par(pds, params, await key.proof('POST', htu))
    assert.equal(first.status, 400)
    assert.equal(first.body.error, 'use_dpop_nonce')
    assert.ok(first.nonce, 'a DPoP-Nonce header')
    // Browser apps call it cross-origin: the provider's CORS (ours is mounted after it) lets them read the nonce.
    assert.equal(first.headers.get('access-control-allow-origin'), '*')
    assert.match(first.headers.get('access-control-expose-headers') ?? '', /DPoP-Nonce/i)
    const proof = await key.proof('POST', htu, first.nonce!)
    const second = await par(pds, params, proof)
    assert.equal(second.status, 201, JSON.stringify(second.body))
    assert.match(second.body.request_uri, /^urn:ietf:params:oauth:request_uri:/)
    assert.ok(second.body.expires_in > 0)

    // The same proof again is a replay (its jti is remembered in oauth_replay).
    const replayed = await par(pds, params, proof)
    assert.equal(replayed.status, 401)
    assert.equal(replayed.body.error, 'invalid_dpop_proof')

    // The authorize page for the request, as a browser navigates to it: the sign-in UI, served by the provider.
    const page = await navigate(
      `${pds.url}/oauth/authorize?client_id=${encodeURIComponent(LOOPBACK_CLIENT)}&request_uri=${encodeURIComponent(second.body.request_uri)}`,
    )
    assert.equal(page.status, 200, page.body.slice(0, 300))
    assert.match(page.type, /text\/html/)
    assert.match(page.body, /Aurora Locus/)
  })

  it('refuses a PAR without PKCE', async () => {
    const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = authorizeParams(LOOPBACK_CLIENT)
    const res = await parWithNonce(pds, noPkce)
    assert.equal(res.status, 400)
    assert.equal(res.body.error, 'invalid_request')
    assert.match(res.body.error_description, /PKCE/)
  })

  it('refuses a redirect_uri the client did not register', async () => {
    const res = await parWithNonce(pds, authorizeParams(LOOPBACK_CLIENT, { redirect_uri: 'http://127.0.0.1:8123/elsewhere' }))
    assert.equal(res.status, 400)
    assert.equal(res.body.error, 'invalid_request')
    assert.match(res.body.error_description, /redirect_uri/i)
  })

  it('refuses client ids that cannot name a published client', async () => {
    // A discoverable client is an https URL on a public host name, fetched only then: none of these is fetched.
    const ids = ['https://client.invalid/client-metadata.json', 'http://app.example.com/client.json', 'https://127.0.0.1/client.json', 'not a url']
    for (const clientId of ids) {
      const res = await parWithNonce(pds, authorizeParams(clientId))
      assert.equal(res.status, 400, `${clientId}: ${JSON.stringify(res.body)}`)
      assert.match(res.body.error, /^invalid_client_(id|metadata)$/, `${clientId}: ${JSON.stringify(res.body)}`)
      assert.match(res.body.error_description, /client/i)
    }
  })

  describe('sign-in and OAuth sessions', () => {
    const count = (did: string) => pds.db.prepare('SELECT count(*) FROM oauth_token WHERE did = ?').pluck().get(did)

    it('signs in with the account password and issues DPoP-bound tokens (counted on the status page); refresh rotates, a replay ends the session', async () => {
      const alice = await createUser(pds)
      // The pages show the profile's name and avatar.
      const avatar = (await alice.agent.uploadBlob(png(), { encoding: 'image/png' })).data.blob
      await alice.agent.com.atproto.repo.putRecord({
        repo: alice.did,
        collection: 'app.bsky.actor.profile',
        rkey: 'self',
        record: { $type: 'app.bsky.actor.profile', displayName: 'Alice A.', avatar },
      })
      const active = pds.ctx.oauth.tokens.countActive()
      const { tokens, account, refresh } = await signIn(pds, alice.handle, alice.password)
      assert.equal(account.name, 'Alice A.')
      assert.equal(account.picture, `${pds.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${avatar.ref.toString()}`)
      // The status page counts it.
      const page = await (await fetch(pds.url, { headers: { accept: 'text/html' } })).text()
      assert.match(page, new RegExp(`<dd id="oauth-sessions">${active + 1}</dd>`))
      assert.equal(account.did, alice.did)
      assert.equal(account.handle, alice.handle)
      assert.equal(tokens.token_type, 'DPoP')
      assert.equal(tokens.sub, alice.did)
      assert.match(tokens.scope, /\batproto\b/)
      assert.ok(tokens.access_token && tokens.refresh_token)
      assert.equal(count(alice.did), 1)

      const rotated = await refresh(tokens.refresh_token)
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body))
      assert.notEqual(rotated.body.refresh_token, tokens.refresh_token)
      // The spent refresh token again: a replay, which revokes the whole session (the new token with it).
      const replayed = await refresh(tokens.refresh_token)
      assert.equal(replayed.status, 400)
      assert.equal(replayed.body.error, 'invalid_grant')
      const after = await refresh(rotated.body.refresh_token)
      assert.equal(after.status, 400)
      assert.equal(after.body.error, 'invalid_grant')
      assert.equal(count(alice.did), 0)
    })

    it('revokes a session at /oauth/revoke', async () => {
      const bob = await createUser(pds)
      const flow = await signIn(pds, bob.handle, bob.password)
      const revoked = await flow.client.post('/oauth/revoke', { token: flow.tokens.refresh_token, client_id: LOOPBACK_CLIENT })
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body))
      assert.equal(count(bob.did), 0)
      assert.equal((await flow.refresh(flow.tokens.refresh_token)).body.error, 'invalid_grant')
    })

    it('shows the owner their OAuth sessions and devices on the account pages, and revokes them there', async () => {
      const dana = await createUser(pds)
      const flow = await signIn(pds, dana.handle, dana.password)
      const other = await signIn(pds, dana.handle, dana.password)
      const listed = await flow.api(`/oauth-sessions?did=${encodeURIComponent(dana.did)}`)
      assert.equal(listed.status, 200, JSON.stringify(listed.body))
      assert.equal(listed.body.length, 2, 'both app sessions are listed')
      for (const session of listed.body) {
        assert.equal(session.clientId, LOOPBACK_CLIENT)
        assert.equal(session.active, true)
        assert.match(session.scope, /\batproto\b/)
      }
      const devices = await flow.api(`/account-sessions?did=${encodeURIComponent(dana.did)}`)
      assert.equal(devices.status, 200, JSON.stringify(devices.body))
      assert.ok(devices.body.some((d: { isCurrentDevice: boolean }) => d.isCurrentDevice), 'this browser is a remembered device')

      // Revoking one session from the page: its refresh token is dead, the other session lives on.
      const mine = await other.api(`/oauth-sessions?did=${encodeURIComponent(dana.did)}`)
      const revoked = await flow.api('/revoke-oauth-session', { did: dana.did, tokenId: mine.body[0].tokenId })
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body))
      assert.equal(count(dana.did), 1)
      const refreshed = await Promise.all([flow, other].map((f) => f.refresh(f.tokens.refresh_token)))
      assert.deepEqual(refreshed.map((r) => r.status).sort(), [200, 400], 'one session revoked, one still refreshing')

      // Forgetting the device: it no longer lists the account.
      const onDevice = async () => {
        const res = await flow.api('/device-sessions')
        assert.equal(res.status, 200, JSON.stringify(res.body))
        return res.body.map((d: { account: { did: string } }) => d.account.did)
      }
      assert.ok((await onDevice()).includes(dana.did), 'listed before')
      const current = devices.body.find((d: { isCurrentDevice: boolean }) => d.isCurrentDevice)
      const forgot = await flow.api('/revoke-account-session', { did: dana.did, deviceId: current.deviceId })
      assert.equal(forgot.status, 200, JSON.stringify(forgot.body))
      assert.ok(!(await onDevice()).includes(dana.did), 'gone after')
    })

    it('refuses app passwords, wrong passwords and taken-down accounts on the sign-in page', async () => {
      const carol = await createUser(pds)
      const appPassword = (await carol.agent.com.atproto.server.createAppPassword({ name: 'app' })).data.password
      const [withAppPassword, wrong] = await Promise.all([
        refusedSignIn(pds, carol.handle, appPassword),
        refusedSignIn(pds, carol.handle, 'not the password'),
      ])
      assert.equal(withAppPassword, 'App passwords are not allowed')
      assert.equal(wrong, 'Invalid identifier or password')
      await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', {
        body: { subject: { $type: 'com.atproto.admin.defs#repoRef', did: carol.did }, takedown: { applied: true } },
        headers: { authorization: pds.adminAuth },
      })
      assert.match(await refusedSignIn(pds, carol.handle, carol.password), /taken down/i)
    })

    it('signs up through the page with createAccount\'s rules, and the new account can log in', async () => {
      const { api } = await openAuthorizePage(pds)
      const handle = `oauth${process.pid % 10000}new.test`
      const signup = { locale: 'en', handle, email: `${handle}@example.com`, password: 'a strong password 1' }
      const created = await api('/sign-up', signup)
      assert.equal(created.status, 200, JSON.stringify(created.body))
      assert.equal(created.body.account.handle, handle)
      const did = created.body.account.did
      assert.match(did, /^did:plc:/)
      // The same account as an XRPC signup makes: a repo, and a password createSession accepts.
      assert.equal((await xrpc(pds, 'com.atproto.repo.describeRepo', { query: { repo: did } })).status, 200)
      const session = await xrpc(pds, 'com.atproto.server.createSession', { body: { identifier: handle, password: signup.password } })
      assert.equal(session.status, 200)
      // Handle taken (now by that account), or not under a service domain: refused with the reason.
      const again = await (await openAuthorizePage(pds)).api('/sign-up', { ...signup, email: `other-${signup.email}` })
      assert.equal(again.status, 400)
      assert.equal(again.body.error, 'handle_unavailable')
      assert.equal(again.body.reason, 'taken')
      const outside = await (await openAuthorizePage(pds)).api('/verify-handle-availability', { handle: 'someone.example.com' })
      assert.equal(outside.status, 400)
      assert.deepEqual([outside.body.error, outside.body.reason], ['handle_unavailable', 'unsupported'])
    })

    it('runs the account pages\' flows through our services: handle, email, password, deactivation, deletion', async () => {
      const erin = await createUser(pds)
      await erin.agent.com.atproto.server.createAppPassword({ name: 'app' })
      const { api, account } = await signIn(pds, erin.handle, erin.password)
      const did = account.did
      const newHandle = `renamed${process.pid % 10000}.test`
      const renamed = await api('/update-handle', { did, handle: newHandle })
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body))
      assert.equal(renamed.body.account.handle, newHandle)
      assert.equal(pds.ctx.accounts.store.byDid(did)?.handle, newHandle)

      const confirm = pds.ctx.emailTokens.create(did, 'confirm_email')
      const verified = await api('/verify-email-confirm', { did, email: erin.email, token: confirm })
      assert.equal(verified.status, 200, JSON.stringify(verified.body))
      assert.equal(verified.body.account.emailVerified, true)

      const reset = pds.ctx.emailTokens.create(did, 'reset_password')
      assert.equal((await api('/reset-password-confirm', { token: reset, password: 'page-new-password' })).status, 200)
      const login = await xrpc(pds, 'com.atproto.server.createSession', { body: { identifier: did, password: 'page-new-password' } })
      assert.equal(login.status, 200)

      // Deactivation from the page also drops OAuth sessions, consents and app passwords, as the reference does.
      await signIn(pds, newHandle, 'page-new-password')
      const deactivated = await api('/deactivate-account', { did })
      assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body))
      assert.equal(deactivated.body.account.deactivated, true)
      assert.equal(count(did), 0)
      assert.deepEqual(pds.ctx.appPasswords.list(did), [])
      const status = await xrpc(pds, 'com.atproto.sync.getRepoStatus', { query: { did } })
      assert.deepEqual([status.body.active, status.body.status], [false, 'deactivated'])
      const reactivated = await api('/reactivate-account', { did })
      assert.equal(reactivated.status, 200, JSON.stringify(reactivated.body))
      assert.equal(reactivated.body.account.deactivated, false)

      const token = pds.ctx.emailTokens.create(did, 'delete_account')
      const wrong = await api('/delete-account-confirm', { did, token, password: 'not it' })
      assert.notEqual(wrong.status, 200)
      assert.ok(pds.ctx.accounts.store.byDid(did), 'a refused deletion deletes nothing')
      const deleted = await api('/delete-account-confirm', { did, token, password: 'page-new-password' })
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body))
      assert.equal(pds.ctx.accounts.store.byDid(did), undefined)
    })

    it('ends them on takedown, password reset, the operator\'s new password and account deletion (the owner\'s and the operator\'s)', async () => {
      const admin = { authorization: pds.adminAuth }
      const signedIn = async () => {
        const user = await createUser(pds)
        const flow = await signIn(pds, user.handle, user.password)
        assert.equal(count(user.did), 1)
        return { user, flow }
      }
      const ended = async ({ user, flow }: Awaited<ReturnType<typeof signedIn>>) => {
        assert.equal(count(user.did), 0)
        const res = await flow.refresh(flow.tokens.refresh_token)
        assert.equal(res.body.error, 'invalid_grant', JSON.stringify(res.body))
      }

      // Signed in at once: each sign-in takes the provider's fixed 400 ms.
      const [taken, reset, deleted, byOperator, newPassword] = await Promise.all([
        signedIn(),
        signedIn(),
        signedIn(),
        signedIn(),
        signedIn(),
      ])
      const res = await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', {
        body: { subject: { $type: 'com.atproto.admin.defs#repoRef', did: taken.user.did }, takedown: { applied: true } },
        headers: admin,
      })
      assert.equal(res.status, 200)
      await ended(taken)

      const token = pds.ctx.emailTokens.create(reset.user.did, 'reset_password')
      assert.equal((await xrpc(pds, 'com.atproto.server.resetPassword', { body: { token, password: 'new-password' } })).status, 200)
      await ended(reset)

      const gone = (table: string) => pds.db.prepare(`SELECT count(*) FROM ${table} WHERE did = ?`).pluck().get(deleted.user.did)
      assert.equal(gone('oauth_account_device'), 1, 'signed in on the device')
      const code = pds.ctx.emailTokens.create(deleted.user.did, 'delete_account')
      const del = await xrpc(pds, 'com.atproto.server.deleteAccount', {
        body: { did: deleted.user.did, password: deleted.user.password, token: code },
      })
      assert.equal(del.status, 200)
      await ended(deleted)
      assert.equal(gone('oauth_account_device'), 0, 'signed-in devices go with the account')

      assert.equal((await xrpc(pds, 'com.atproto.admin.deleteAccount', { body: { did: byOperator.user.did }, headers: admin })).status, 200)
      await ended(byOperator)

      const set = await xrpc(pds, 'com.atproto.admin.updateAccountPassword', {
        body: { did: newPassword.user.did, password: 'set-by-the-operator' },
        headers: admin,
      })
      assert.equal(set.status, 200, JSON.stringify(set.body))
      await ended(newPassword)
    })
  })

  describe('doctor', () => {
    it('passes the OAuth check through the public URL', async () => {
      const report = await runDoctor({ cfg: pds.ctx.cfg, timeoutMs: 5000, frameWaitMs: 500, maxAccounts: 0 })
      const check = report.results.find((r) => r.id === 'oauth')
      assert.equal(check?.status, 'pass', JSON.stringify(check))
    })

    it('fails clearly when the issuer is not the public URL, saying what to set', async () => {
      // A proxy on another port: what the doctor reaches as the public URL is a PDS configured with another one.
      const target = new URL(pds.url)
      const proxy = http.createServer((req, res) => {
        const up = http.request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
          res.writeHead(ur.statusCode!, ur.headers)
          ur.pipe(res)
        })
        req.pipe(up)
      })
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
      try {
        const publicUrl = `http://localhost:${(proxy.address() as AddressInfo).port}`
        const cfg = { ...pds.ctx.cfg, publicUrl }
        const res = await fetch(`${publicUrl}/.well-known/oauth-authorization-server`)
        const check = oauthResult(cfg, { ok: true, status: res.status, text: await res.text() })
        assert.equal(check.status, 'fail')
        assert.match(check.detail, new RegExp(`issuer "${pds.ctx.cfg.publicUrl}", not ${publicUrl}`))
        assert.match(check.fix ?? '', new RegExp(`PDS_PUBLIC_URL=${publicUrl}`))
        const unreachable = oauthResult(cfg, { ok: false, error: 'HTTP 404 Not Found' })
        assert.equal(unreachable.status, 'fail')
        assert.match(unreachable.fix ?? '', /\/oauth\//)
      } finally {
        await new Promise<void>((resolve) => proxy.close(() => resolve()))
      }
    })
  })
})

describe('OAuth sign-in and sign-up limits', () => {
  let plc: TestPlc
  let pds: TestPds

  before(async () => {
    ;({ plc, pds } = await startServers({
      env: {
        PDS_RATE_LIMITS_ENABLED: 'true',
        PDS_RATE_LIMIT_LOGIN_PER_5_MINUTES: '2',
        PDS_INVITE_REQUIRED: 'true',
      },
    }))
  })
  after(() => stopServers({ plc, pds }))

  it('spends createSession\'s password budget: attempts on the page and over XRPC count together', async () => {
    const code = (await xrpc(pds, 'com.atproto.server.createInviteCode', { body: { useCount: 1 }, headers: { authorization: pds.adminAuth } })).body.code
    const handle = `lim${process.pid % 10000}.test`
    const user = { handle, password: 'the right password' }
    const made = await xrpc(pds, 'com.atproto.server.createAccount', {
      body: { handle, email: `${handle}@example.com`, password: user.password, inviteCode: code },
    })
    assert.equal(made.status, 200, JSON.stringify(made.body))
    assert.equal(await refusedSignIn(pds, user.handle, 'wrong 1'), 'Invalid identifier or password')
    assert.equal(await refusedSignIn(pds, user.handle, 'wrong 2'), 'Invalid identifier or password')
    assert.match(await refusedSignIn(pds, user.handle, user.password), /too many/i, 'even the right password, over the limit')
    const xrpcLogin = await xrpc(pds, 'com.atproto.server.createSession', { body: { identifier: made.body.did, password: user.password } })
    assert.equal(xrpcLogin.status, 429)
  })

  it('requires an invite code to sign up, as createAccount does, and spends it', async () => {
    const handle = `inv${process.pid % 10000}page.test`
    const signup = { locale: 'en', handle, email: `${handle}@example.com`, password: 'a strong password 1' }
    const without = await (await openAuthorizePage(pds)).api('/sign-up', signup)
    assert.equal(without.status, 400)
    assert.match(without.body.error_description, /invite/i)
    const code = (await xrpc(pds, 'com.atproto.server.createInviteCode', { body: { useCount: 1 }, headers: { authorization: pds.adminAuth } })).body.code
    const created = await (await openAuthorizePage(pds)).api('/sign-up', { ...signup, inviteCode: code })
    assert.equal(created.status, 200, JSON.stringify(created.body))
    const reused = await (await openAuthorizePage(pds)).api('/sign-up', { ...signup, handle: `re${handle}`, email: `re${signup.email}`, inviteCode: code })
    assert.equal(reused.status, 400)
    assert.match(reused.body.error_description, /invite code/i)
  })
})

describe('the client document fetch (safeFetch)', () => {
  let server: http.Server
  let base: string
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/huge.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('x'.repeat(600 * 1024))
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('outside dev mode refuses plain http and loopback addresses before connecting', async () => {
    const guarded = clientFetch(false)
    // The reason, not merely a failure: nothing listens on those ports either.
    const refusal = (err: any) => /Invalid hostname|not a public domain|forbidden|not allowed/i.test(`${err.message} ${err.cause?.message}`)
    await assert.rejects(guarded(`${base}/client.json`, { redirect: 'error' }), refusal)
    await assert.rejects(guarded('https://127.0.0.1/client.json', { redirect: 'error' }), refusal)
    await assert.rejects(guarded('https://localhost/client.json', { redirect: 'error' }), refusal)
  })

  it('in dev mode reaches this machine, and still caps the size of what it reads', async () => {
    const dev = clientFetch(true)
    const small = await dev(`${base}/client.json`, { redirect: 'error' })
    assert.deepEqual(await small.json(), { ok: true })
    await assert.rejects(async () => {
      const res = await dev(`${base}/huge.json`, { redirect: 'error' })
      await res.text()
    }, /too large|size|exceed/i)
  })
})

describe('OAuth configuration', () => {
  const prod: Record<string, string> = { PDS_HOSTNAME: 'pds.example.com', ...PRODUCTION_SECRETS }

  it('requires the signing key and DPoP secret in production, and checks them', () => {
    const { PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX: _k, ...noKey } = prod
    assertConfigRefuses(noKey, 'PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX')
    const { PDS_OAUTH_DPOP_SECRET: _d, ...noSecret } = prod
    assertConfigRefuses(noSecret, 'PDS_OAUTH_DPOP_SECRET')
    assertConfigRefuses({ ...prod, PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX: 'ff'.repeat(32) }, 'PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX')
    assertConfigRefuses({ ...prod, PDS_OAUTH_DPOP_SECRET: 'short' }, 'PDS_OAUTH_DPOP_SECRET')
    // The public URL is the issuer: https on a real hostname, or http on a loopback host.
    assertConfigRefuses({ ...prod, PDS_PUBLIC_URL: 'http://pds.example.com' }, 'PDS_PUBLIC_URL')
    assertConfigRefuses({ PDS_PUBLIC_URL: 'https://localhost:8443', PDS_DATA_DIRECTORY: path.join(os.tmpdir(), 'aurora-never-created') }, 'PDS_PUBLIC_URL')
    assert.equal(parseConfig({ ...prod, PDS_PUBLIC_URL: 'http://127.0.0.1:3000', PDS_DEV_MODE: 'true' }).publicUrl, 'http://127.0.0.1:3000')
    const cfg = parseConfig(prod)
    assert.equal(cfg.secrets.oauthSigningKeyHex, '11'.repeat(32))
    assert.equal(cfg.secrets.dpopSecret, '22'.repeat(32))
  })

  it('generates them on localhost into secrets.json, keeping the secrets a data directory already has', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-oauth-cfg-'))
    try {
      const old = { jwtSecret: 'j'.repeat(32), adminPassword: 'p'.repeat(32), plcRotationKeyHex: 'ab'.repeat(32) }
      writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify(old), { mode: 0o600 })
      const a = parseConfig({ PDS_DATA_DIRECTORY: dir })
      assert.equal(a.secrets.jwtSecret, old.jwtSecret)
      assert.equal(a.secrets.plcRotationKeyHex, old.plcRotationKeyHex)
      assert.match(a.secrets.oauthSigningKeyHex, /^[0-9a-f]{64}$/)
      assert.match(a.secrets.dpopSecret, /^[0-9a-f]{64}$/)
      assert.deepEqual(parseConfig({ PDS_DATA_DIRECTORY: dir }).secrets, a.secrets)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
