// OAuth access tokens at the XRPC edge: the route table's OAuth column (which scopes each method needs, as the
// reference's handlers `authorize`), the DPoP credential's errors, and a real token with a real DPoP proof checked by
// @atproto/oauth-provider's OAuthVerifier, through a real server, a real repo write and a real proxied call.
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { JoseKey } from '@atproto/jwk-jose'
import { TOKEN_ID_BYTES_LENGTH, TOKEN_ID_PREFIX } from '@atproto/oauth-provider/constants'
import { OAuthVerifier } from '@atproto/oauth-provider/verifier'
import * as jose from 'jose'
import { TokenService } from '../src/account/tokens.ts'
import { routes } from '../src/api/routes.ts'
import { assertRepoWrites } from '../src/api/com/atproto/repo/util.ts'
import { ServiceProxy } from '../src/proxy/service-proxy.ts'
import { AuthVerifier, OAUTH_KINDS, type OAuthCredentials } from '../src/xrpc/auth.ts'
import { oauthVerdict, permissionsOf, verdictOf, type Verdict, type VerdictOptions } from './helpers/oauth-scopes.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'
import { ServiceStandIn } from './helpers/service-standin.ts'

const APPVIEW = 'did:web:api.bsky.app#bsky_appview'
const forbidden = (message: string) => ({ status: 403, error: 'Forbidden', message })
const NOT_SUPPORTED = forbidden('OAuth credentials are not supported for this endpoint')
const EMAIL_UPDATE = forbidden('Use the account manager interface to update email address associated with an account')
const REACTIVATION = forbidden(
  'Account reactivation is not available with OAuth credentials. Sign in to your account management page to reactivate.',
)
const missing = (scope: string) => ({ status: 403, error: 'ScopeMissingError', message: `Missing required scope "${scope}"` })

describe('the route table says what an OAuth token needs', () => {
  it('every route has an OAuth rule, and only the routes taking a login accept one', () => {
    for (const r of routes) {
      assert.ok(r.oauth, `${r.nsid} has an OAuth rule`)
      assert.ok(['none', 'always', 'inHandler', 'refused', 'check'].includes(r.oauth.type), r.nsid)
      assert.equal(r.oauth.type === 'none', !OAUTH_KINDS.has(r.auth), `${r.nsid} (${r.auth}): ${r.oauth.type}`)
    }
  })

  type Case = [nsid: string, expected: Verdict, opts?: VerdictOptions]
  const png = { headers: { 'content-type': 'image/png' } }
  // prettier-ignore
  const table: Record<string, Case[]> = {
    atproto: [
      ['com.atproto.server.getSession', 'allowed'],
      ['com.atproto.server.checkAccountStatus', 'allowed'],
      ['com.atproto.sync.getRepo', 'allowed'],
      ['com.atproto.repo.createRecord', 'allowed'], // at the route; the write itself is checked by the handler (below)
      ['com.atproto.server.createAppPassword', NOT_SUPPORTED],
      ['com.atproto.server.listAppPasswords', NOT_SUPPORTED],
      ['com.atproto.server.revokeAppPassword', NOT_SUPPORTED],
      ['com.atproto.server.requestAccountDelete', NOT_SUPPORTED],
      ['com.atproto.server.getAccountInviteCodes', NOT_SUPPORTED],
      ['com.atproto.server.requestEmailUpdate', EMAIL_UPDATE],
      ['com.atproto.server.activateAccount', REACTIVATION],
      ['com.atproto.server.deactivateAccount', missing('account:status?action=manage')],
      ['com.atproto.repo.importRepo', missing('account:repo?action=manage')],
      ['com.atproto.identity.updateHandle', missing('identity:handle')],
      ['com.atproto.identity.submitPlcOperation', missing('identity:*')],
      ['com.atproto.repo.uploadBlob', missing('blob:image/png'), png],
      ['app.bsky.actor.getPreferences', missing(`rpc:app.bsky.actor.getPreferences?aud=${APPVIEW}`), { defaultAudience: APPVIEW }],
    ],
    'atproto transition:generic': [
      ['com.atproto.repo.uploadBlob', 'allowed', { headers: { 'content-type': 'video/mp4' } }],
      ['app.bsky.actor.getPreferences', 'allowed', { defaultAudience: APPVIEW }],
      // no AppView configured: served here all the same, for a permission good for any audience
      ['app.bsky.actor.putPreferences', 'allowed'],
      ['com.atproto.identity.resolveDid', 'allowed', { defaultAudience: APPVIEW }],
      ['com.atproto.server.getServiceAuth', 'allowed', { params: { aud: 'did:web:feed.example' } }],
      ['com.atproto.server.getServiceAuth', missing('rpc:chat.bsky.convo.listConvos?aud=did:web:api.bsky.chat%23bsky_chat'), { params: { aud: 'did:web:api.bsky.chat#bsky_chat', lxm: 'chat.bsky.convo.listConvos' } }],
      ['com.atproto.server.createAppPassword', NOT_SUPPORTED],
      ['com.atproto.identity.updateHandle', missing('identity:handle')],
      ['com.atproto.server.deactivateAccount', missing('account:status?action=manage')],
      ['com.atproto.server.confirmEmail', missing('account:email?action=manage')],
    ],
    'atproto transition:chat.bsky': [
      ['com.atproto.server.getServiceAuth', 'allowed', { params: { aud: 'did:web:api.bsky.chat#bsky_chat', lxm: 'chat.bsky.convo.listConvos' } }],
      ['app.bsky.actor.getPreferences', missing(`rpc:app.bsky.actor.getPreferences?aud=${APPVIEW}`), { defaultAudience: APPVIEW }],
      ['com.atproto.repo.uploadBlob', missing('blob:image/png'), png],
    ],
    'atproto transition:email': [
      ['com.atproto.server.getSession', 'allowed'],
      ['com.atproto.server.confirmEmail', missing('account:email?action=manage')],
      ['com.atproto.server.requestEmailUpdate', EMAIL_UPDATE],
    ],
    'atproto blob:image/*': [
      ['com.atproto.repo.uploadBlob', 'allowed', png],
      ['com.atproto.repo.uploadBlob', 'allowed', { headers: { 'content-type': 'IMAGE/JPEG; charset=binary' } }],
      ['com.atproto.repo.uploadBlob', missing('blob:video/mp4'), { headers: { 'content-type': 'video/mp4' } }],
      ['com.atproto.repo.uploadBlob', { status: 400, error: 'InvalidRequest', message: 'Request encoding (Content-Type) required but not provided' }],
    ],
    [`atproto rpc:app.bsky.feed.getTimeline?aud=${APPVIEW}`]: [
      ['app.bsky.actor.getPreferences', missing(`rpc:app.bsky.actor.getPreferences?aud=${APPVIEW}`), { defaultAudience: APPVIEW }],
      ['com.atproto.server.getServiceAuth', 'allowed', { params: { aud: APPVIEW, lxm: 'app.bsky.feed.getTimeline' } }],
      ['com.atproto.server.getServiceAuth', missing('rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app'), { params: { aud: 'did:web:api.bsky.app', lxm: 'app.bsky.feed.getTimeline' } }],
      ['com.atproto.server.getServiceAuth', missing(`rpc:*?aud=${APPVIEW}`), { params: { aud: APPVIEW } }],
    ],
    'atproto account:email': [
      ['com.atproto.server.getSession', 'allowed'],
      ['com.atproto.server.confirmEmail', missing('account:email?action=manage')],
    ],
    'atproto account:email?action=manage account:status?action=manage account:repo?action=manage': [
      ['com.atproto.server.confirmEmail', 'allowed'],
      ['com.atproto.server.requestEmailConfirmation', 'allowed'],
      ['com.atproto.server.deactivateAccount', 'allowed'],
      ['com.atproto.repo.importRepo', 'allowed'],
      ['com.atproto.server.activateAccount', REACTIVATION],
    ],
    'atproto identity:handle': [
      ['com.atproto.identity.updateHandle', 'allowed'],
      ['com.atproto.identity.submitPlcOperation', missing('identity:*')],
      ['com.atproto.identity.signPlcOperation', missing('identity:*')],
    ],
    'atproto identity:*': [
      ['com.atproto.identity.updateHandle', 'allowed'],
      ['com.atproto.identity.signPlcOperation', 'allowed'],
      ['com.atproto.identity.requestPlcOperationSignature', 'allowed'],
    ],
  }
  for (const [scope, cases] of Object.entries(table)) {
    it(`scope "${scope}"`, () => {
      for (const [nsid, expected, opts] of cases) {
        // The rpc audience is escaped in a scope string; the message names it as the scope is written.
        const got = oauthVerdict(nsid, scope, opts)
        assert.deepEqual(normalise(got), normalise(expected), `${nsid} ${JSON.stringify(opts ?? {})}`)
      }
    })
  }

  it('repo writes are checked per collection and action, at the handler', () => {
    const writes = (scope: string, ws: { action: 'create' | 'update' | 'delete'; collection: string }[]) =>
      verdictOf(() => assertRepoWrites(oauthCredentials(scope), ws))
    const like = 'app.bsky.feed.like'
    const post = 'app.bsky.feed.post'
    assert.equal(writes('atproto transition:generic', [{ action: 'delete', collection: post }]), 'allowed')
    assert.deepEqual(writes('atproto', [{ action: 'create', collection: like }]), missing(`repo:${like}?action=create`))
    const likes = `atproto repo:${like}`
    for (const action of ['create', 'update', 'delete'] as const) {
      assert.equal(writes(likes, [{ action, collection: like }]), 'allowed', action)
    }
    assert.deepEqual(writes(likes, [{ action: 'create', collection: like }, { action: 'create', collection: post }]), missing(`repo:${post}?action=create`))
    const creates = 'atproto repo:*?action=create'
    assert.equal(writes(creates, [{ action: 'create', collection: post }, { action: 'create', collection: like }]), 'allowed')
    assert.deepEqual(writes(creates, [{ action: 'delete', collection: post }]), missing(`repo:${post}?action=delete`))
    // putRecord asks for create and update both
    assert.deepEqual(writes(creates, [{ action: 'create', collection: post }, { action: 'update', collection: post }]), missing(`repo:${post}?action=update`))
    // a session is not an OAuth token: its writes are not scoped
    assert.equal(verdictOf(() => assertRepoWrites({ type: 'user', did: 'did:plc:x', sessionId: 's', scope: 'com.atproto.appPass' }, [{ action: 'create', collection: post }])), 'allowed')
  })

  it('transition scopes: generic is everything but chat, chat.bsky is chat, as an app password is', () => {
    const rpc = (scope: string, lxm: string, aud: string) => permissionsOf(scope).allowsRpc({ lxm, aud })
    assert.equal(rpc('atproto transition:generic', 'app.bsky.feed.getTimeline', APPVIEW), true)
    assert.equal(rpc('atproto transition:generic', 'chat.bsky.convo.listConvos', 'did:web:api.bsky.chat#bsky_chat'), false)
    assert.equal(rpc('atproto transition:chat.bsky', 'chat.bsky.convo.listConvos', 'did:web:api.bsky.chat#bsky_chat'), true)
    assert.equal(rpc('atproto transition:chat.bsky', 'app.bsky.feed.getTimeline', APPVIEW), false)
    assert.equal(rpc(`atproto rpc:app.bsky.feed.getTimeline?aud=${APPVIEW}`, 'app.bsky.feed.getTimeline', 'did:web:other.example#bsky_appview'), false)
    const email = (scope: string) => permissionsOf(scope).allowsAccount({ attr: 'email', action: 'read' })
    assert.deepEqual(['atproto', 'atproto transition:generic', 'atproto transition:email', 'atproto account:email'].map(email), [false, false, true, true])
  })
})

function normalise(v: Verdict): Verdict {
  return v === 'allowed' ? v : { ...v, message: v.message.replaceAll('%23', '#') }
}

function oauthCredentials(scope: string): OAuthCredentials {
  return { type: 'oauth', did: 'did:plc:x', clientId: 'https://app.example/client-metadata.json', permissions: permissionsOf(scope) }
}

describe('DPoP credentials that cannot be verified', () => {
  let plc: TestPlc
  let pds: TestPds

  before(async () => ({ plc, pds } = await startServers()))
  after(() => stopServers({ plc, pds }))

  it('answers each kind of route as the reference does, never with a 500', async () => {
    const BAD_PROOF = { status: 401, error: 'invalid_dpop_proof', message: 'Failed to verify DPoP proof: Invalid Compact JWS' }
    const dpop = { authorization: 'DPoP x', dpop: 'not-a-proof' }
    const cases: [string, { status: number; error: string; message: string }, Parameters<typeof xrpc>[2]?][] = [
      // a method taking a login: the proof is checked first (the reference's answer, word for word)
      ['com.atproto.server.getSession', BAD_PROOF],
      ['com.atproto.repo.createRecord', BAD_PROOF, { body: {} }],
      // forwarded methods take the same credentials
      ['app.bsky.feed.getTimeline', BAD_PROOF, { headers: { 'atproto-proxy': 'did:web:appview.example#bsky_appview' } }],
      // the reference's header parsing: exactly "<type> <token>"
      ['com.atproto.server.getSession', { status: 400, error: 'InvalidToken', message: 'Malformed authorization header' }, { headers: { authorization: 'DPoP a b' } }],
      ['com.atproto.server.getSession', { status: 400, error: 'InvalidToken', message: 'Malformed authorization header' }, { headers: { authorization: 'dpop' } }],
      // session-only methods
      ['com.atproto.server.refreshSession', { status: 401, error: 'AuthMissing', message: 'Authentication Required' }, { method: 'POST' }],
      ['com.atproto.server.deleteSession', { status: 401, error: 'AuthMissing', message: 'Authentication Required' }, { method: 'POST' }],
      ['com.atproto.server.createAccount', { status: 401, error: 'AuthenticationRequired', message: 'Invalid authorization header' }, { body: { handle: 'x.test' } }],
      ['com.atproto.admin.getSubjectStatus', { status: 401, error: 'AuthenticationRequired', message: 'Authentication Required' }, { query: { did: 'did:plc:x' } }],
    ]
    for (const [nsid, expected, opts] of cases) {
      const res = await xrpc(pds, nsid, { ...opts, headers: { ...dpop, ...opts?.headers } })
      assert.deepEqual({ status: res.status, ...res.body }, expected, `${nsid} ${JSON.stringify(opts ?? {})}`)
      if (expected === BAD_PROOF) assert.match(res.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_dpop_proof"/)
    }
  })

  it('ignores a DPoP header where no credentials are needed, and serves public sync reads anonymously', async () => {
    const { did } = await createUser(pds)
    const headers = { authorization: 'DPoP x' }
    assert.equal((await xrpc(pds, 'com.atproto.server.describeServer', { headers })).status, 200)
    const latest = await xrpc(pds, 'com.atproto.sync.getLatestCommit', { query: { did }, headers })
    assert.equal(latest.status, 200)
    assert.ok(latest.body.rev)
  })
})

/** A client's DPoP key: proofs for requests, bound to its thumbprint (RFC 9449). */
type PrivateKey = Awaited<ReturnType<typeof jose.generateKeyPair>>['privateKey']
class DpopKey {
  private readonly key: PrivateKey
  private readonly jwk: jose.JWK
  readonly jkt: string

  private constructor(key: PrivateKey, jwk: jose.JWK, jkt: string) {
    this.key = key
    this.jwk = jwk
    this.jkt = jkt
  }

  static async create(): Promise<DpopKey> {
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256')
    const jwk = await jose.exportJWK(publicKey)
    return new DpopKey(privateKey, jwk, await jose.calculateJwkThumbprint(jwk))
  }

  proof(htm: string, htu: string, token: string, nonce?: string): Promise<string> {
    const ath = createHash('sha256').update(token).digest('base64url')
    return new jose.SignJWT({ htm, htu, jti: randomUUID(), ath, ...(nonce ? { nonce } : {}) })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: this.jwk })
      .setIssuedAt()
      .sign(this.key)
  }
}

describe('OAuth access tokens checked by a real OAuthVerifier', () => {
  let plc: TestPlc
  let pds: TestPds
  let appView: ServiceStandIn
  let verifier: OAuthVerifier
  let key: DpopKey
  let user: { did: string }
  let nonce: string | undefined

  before(async () => {
    plc = await startPlc()
    appView = await ServiceStandIn.start(plc.url)
    pds = await startPds({ plcUrl: plc.url, env: { PDS_BSKY_APP_VIEW_URL: appView.url, PDS_BSKY_APP_VIEW_DID: appView.did } })
    const ctx = pds.ctx
    verifier = new OAuthVerifier({ issuer: ctx.cfg.publicUrl, keyset: [await JoseKey.generate(['ES256'], 'k1')] })
    // As src/context.ts will, once the provider is connected: the same verifier given its OAuth side.
    const auth = new AuthVerifier({
      tokens: new TokenService(ctx.cfg.secrets.jwtSecret, ctx.cfg.serviceDid),
      sessions: ctx.sessions,
      adminPassword: ctx.cfg.secrets.adminPassword,
      publicUrl: ctx.cfg.publicUrl,
      serviceDid: ctx.cfg.serviceDid,
      accountByDid: (did) => ctx.accounts.store.byDid(did),
      oauth: verifier,
    })
    ctx.proxy.close()
    Object.assign(ctx, {
      auth,
      proxy: new ServiceProxy({ cfg: ctx.cfg.proxy, identity: ctx.identity, serviceAuth: ctx.serviceAuth, auth, log: ctx.log }),
    })
    key = await DpopKey.create()
    user = await createUser(pds)
  })
  after(async () => {
    await stopServers({ plc, pds })
    await appView?.close()
  })

  function token(scope: string, opts: { did?: string; aud?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    return verifier.signer.createAccessToken({
      jti: `${TOKEN_ID_PREFIX}${randomBytes(TOKEN_ID_BYTES_LENGTH).toString('hex')}`,
      sub: (opts.did ?? user.did) as `did:${string}:${string}`,
      aud: opts.aud ?? pds.ctx.cfg.serviceDid,
      scope,
      client_id: 'https://app.example/client-metadata.json',
      cnf: { jkt: key.jkt },
      iat: now,
      exp: now + 300,
    })
  }

  /** An XRPC call with the token and a proof made out to the server's public URL (or `htu`), with the last nonce. */
  async function call(accessToken: string, nsid: string, opts: Parameters<typeof xrpc>[2] & { htu?: string } = {}) {
    const method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')
    const path = `/xrpc/${nsid}${opts.query ? `?${new URLSearchParams(opts.query)}` : ''}`
    const htu = opts.htu ?? new URL(path, pds.ctx.cfg.publicUrl).href
    const dpop = await key.proof(method, htu, accessToken, nonce)
    const res = await xrpc(pds, nsid, { ...opts, method, headers: { ...opts.headers, authorization: `DPoP ${accessToken}`, dpop } })
    nonce = res.headers.get('dpop-nonce') ?? nonce
    return res
  }

  it('asks for a DPoP nonce first, then accepts the token; the email only with account:email', async () => {
    const generic = await token('atproto transition:generic')
    const first = await call(generic, 'com.atproto.server.getSession')
    assert.equal(first.status, 401)
    assert.equal(first.body.error, 'use_dpop_nonce')
    assert.match(first.headers.get('www-authenticate') ?? '', /^DPoP .*error="use_dpop_nonce"/)
    assert.match(first.headers.get('access-control-expose-headers') ?? '', /DPoP-Nonce/)
    assert.match(first.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/)
    assert.ok(nonce, 'a nonce was given')

    const session = await call(generic, 'com.atproto.server.getSession')
    assert.equal(session.status, 200, JSON.stringify(session.body))
    assert.equal(session.body.did, user.did)
    assert.equal(session.body.email, undefined)
    const withEmail = await call(await token('atproto transition:email'), 'com.atproto.server.getSession')
    assert.equal(withEmail.status, 200)
    assert.match(withEmail.body.email, /@example\.com$/)
  })

  it('refuses a proof made out to another URL, a token for another server, and a token without atproto', async () => {
    const generic = await token('atproto transition:generic')
    const wrongUrl = await call(generic, 'com.atproto.server.getSession', { htu: 'https://elsewhere.example/xrpc/com.atproto.server.getSession' })
    assert.deepEqual([wrongUrl.status, wrongUrl.body.error, wrongUrl.body.message], [401, 'invalid_dpop_proof', 'DPoP "htu" mismatch'])
    const otherAud = await call(await token('atproto transition:generic', { aud: 'did:web:other.example' }), 'com.atproto.server.getSession')
    assert.deepEqual([otherAud.status, otherAud.body.error], [401, 'invalid_token'])
    assert.match(otherAud.body.message, /Invalid audience/)
    assert.match(otherAud.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
    const noAtproto = await call(await token('transition:generic'), 'com.atproto.server.getSession')
    assert.deepEqual([noAtproto.status, noAtproto.body.error], [401, 'invalid_token'])
  })

  it('writes what the scopes allow, and answers 403 ScopeMissingError for the rest', async () => {
    const likes = await token('atproto repo:app.bsky.feed.like')
    const subject = { uri: `at://${user.did}/app.bsky.feed.post/3kabcdefghij2`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }
    const like = await call(likes, 'com.atproto.repo.createRecord', {
      body: { repo: user.did, collection: 'app.bsky.feed.like', record: { $type: 'app.bsky.feed.like', subject, createdAt: new Date().toISOString() } },
    })
    assert.equal(like.status, 200, JSON.stringify(like.body))
    const post = await call(likes, 'com.atproto.repo.createRecord', {
      body: { repo: user.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'no', createdAt: new Date().toISOString() } },
    })
    assert.deepEqual({ status: post.status, ...post.body }, missing('repo:app.bsky.feed.post?action=create'))
    const listed = await xrpc(pds, 'com.atproto.repo.listRecords', { query: { repo: user.did, collection: 'app.bsky.feed.post' } })
    assert.equal(listed.body.records.length, 0, 'the refused write changed nothing')

    const appPassword = await call(likes, 'com.atproto.server.createAppPassword', { body: { name: 'x' } })
    assert.deepEqual({ status: appPassword.status, ...appPassword.body }, NOT_SUPPORTED)
  })

  it('forwards a method its rpc scope names, signed for it alone, and refuses another', async () => {
    // A scope's parameters are URL-encoded: the stand-in's did:web has a percent-encoded port.
    const timeline = await token(`atproto rpc:app.bsky.feed.getTimeline?aud=${encodeURIComponent(`${appView.did}#bsky_appview`)}`)
    const ok = await call(timeline, 'app.bsky.feed.getTimeline')
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    const forwarded = appView.callsOf('app.bsky.feed.getTimeline').at(-1)
    assert.equal(forwarded?.claims?.iss, user.did)
    assert.equal(forwarded?.claims?.lxm, 'app.bsky.feed.getTimeline')
    assert.equal(forwarded?.claims?.aud, appView.did)

    const before = appView.calls.length
    const other = await call(timeline, 'app.bsky.actor.getProfile', { query: { actor: user.did } })
    assert.equal(other.status, 403)
    assert.equal(other.body.error, 'ScopeMissingError')
    assert.equal(other.body.message.replaceAll('%23', '#'), `Missing required scope "rpc:app.bsky.actor.getProfile?aud=${appView.did}#bsky_appview"`)
    const chat = await call(await token('atproto transition:generic'), 'chat.bsky.convo.listConvos', { headers: { 'atproto-proxy': `${appView.did}#bsky_chat` } })
    assert.equal(chat.status, 403)
    assert.equal(chat.body.error, 'ScopeMissingError')
    assert.equal(appView.calls.length, before, 'nothing refused reached the service')
  })

  it('refuses the token of a taken-down account', async () => {
    const other = await createUser(pds)
    const generic = await token('atproto transition:generic', { did: other.did })
    assert.equal((await call(generic, 'com.atproto.server.getSession')).status, 200)
    const takedown = await xrpc(pds, 'com.atproto.admin.updateSubjectStatus', {
      body: { subject: { $type: 'com.atproto.admin.defs#repoRef', did: other.did }, takedown: { applied: true } },
      headers: { authorization: pds.adminAuth },
    })
    assert.equal(takedown.status, 200)
    const after = await call(generic, 'com.atproto.server.getSession')
    assert.deepEqual({ status: after.status, ...after.body }, { status: 401, error: 'AccountTakedown', message: 'Account has been taken down' })
  })
})
