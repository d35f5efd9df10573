// A table of malformed requests: each gets a 4xx XRPC error with a message, never a 5xx, and changes nothing.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'

type Case = {
  name: string
  nsid: string
  method?: 'GET' | 'POST'
  query?: Record<string, string>
  body?: unknown
  rawBody?: string
  headers?: Record<string, string> | ((tokens: Tokens) => Record<string, string>)
  status: number
  error: string
}
type Tokens = { access: string; refresh: string }

const bearer = (t: string) => ({ authorization: `Bearer ${t}` })
const account = (over: Record<string, unknown>) => ({
  handle: uniqueHandle('bad'),
  email: 'bad@example.com',
  password: 'pw',
  ...over,
})

const cases: Case[] = [
  // No service to forward it to (src/proxy): the reference's 400, never 501.
  { name: 'unknown method', nsid: 'com.example.nope', status: 400, error: 'InvalidRequest' },
  { name: 'GET on a procedure', nsid: 'com.atproto.server.createSession', method: 'GET', status: 400, error: 'InvalidRequest' },
  { name: 'POST on a query', nsid: 'com.atproto.server.describeServer', method: 'POST', body: {}, status: 400, error: 'InvalidRequest' },
  { name: 'malformed JSON', nsid: 'com.atproto.server.createSession', rawBody: '{"identifier": ', status: 400, error: 'InvalidRequest' },
  { name: 'JSON array body', nsid: 'com.atproto.server.createSession', rawBody: '[1,2]', status: 400, error: 'InvalidRequest' },
  { name: 'JSON null body', nsid: 'com.atproto.server.createSession', rawBody: 'null', status: 400, error: 'InvalidRequest' },
  { name: 'empty body', nsid: 'com.atproto.server.createSession', rawBody: '', status: 400, error: 'InvalidRequest' },
  {
    name: 'wrong content type',
    nsid: 'com.atproto.server.createSession',
    rawBody: 'identifier=a&password=b',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 400,
    error: 'InvalidRequest',
  },
  { name: 'missing field', nsid: 'com.atproto.server.createSession', body: { identifier: 'a.test' }, status: 400, error: 'InvalidRequest' },
  { name: 'wrong type', nsid: 'com.atproto.server.createSession', body: { identifier: 42, password: 'x' }, status: 400, error: 'InvalidRequest' },
  {
    name: 'oversized body',
    nsid: 'com.atproto.server.createSession',
    body: { identifier: 'a.test', password: 'x'.repeat(2 * 1024 * 1024) },
    status: 413,
    error: 'PayloadTooLarge',
  },
  { name: 'invalid handle', nsid: 'com.atproto.server.createAccount', body: account({ handle: 'no spaces.test' }), status: 400, error: 'InvalidHandle' },
  { name: 'handle too short', nsid: 'com.atproto.server.createAccount', body: account({ handle: 'ab.test' }), status: 400, error: 'InvalidHandle' },
  { name: 'disallowed TLD', nsid: 'com.atproto.server.createAccount', body: account({ handle: 'alice.local' }), status: 400, error: 'InvalidHandle' },
  { name: 'handle as number', nsid: 'com.atproto.server.createAccount', body: account({ handle: 7 }), status: 400, error: 'InvalidRequest' },
  { name: 'bad email', nsid: 'com.atproto.server.createAccount', body: account({ email: 'not-an-email' }), status: 400, error: 'InvalidRequest' },
  { name: 'bad recovery key', nsid: 'com.atproto.server.createAccount', body: account({ recoveryKey: 'did:web:evil.com' }), status: 400, error: 'InvalidRequest' },
  { name: 'migration DID without the service JWT of its old PDS', nsid: 'com.atproto.server.createAccount', body: account({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), status: 401, error: 'AuthenticationRequired' },
  { name: 'migration DID that is not a DID', nsid: 'com.atproto.server.createAccount', body: account({ did: 'plc:aaaa' }), status: 400, error: 'InvalidRequest' },
  { name: 'importRepo without a CAR', nsid: 'com.atproto.repo.importRepo', method: 'POST', headers: (t) => bearer(t.access), status: 400, error: 'InvalidRequest' },
  { name: 'no auth', nsid: 'com.atproto.server.getSession', status: 401, error: 'AuthenticationRequired' },
  { name: 'not a bearer', nsid: 'com.atproto.server.getSession', headers: { authorization: 'Token abc' }, status: 401, error: 'AuthenticationRequired' },
  { name: 'garbage token', nsid: 'com.atproto.server.getSession', headers: bearer('abc.def.ghi'), status: 400, error: 'InvalidToken' },
  { name: 'unsigned token', nsid: 'com.atproto.server.getSession', headers: bearer('eyJhbGciOiJub25lIn0.eyJzdWIiOiJkaWQ6cGxjOngifQ.'), status: 400, error: 'InvalidToken' },
  { name: 'refresh token as access', nsid: 'com.atproto.server.getSession', headers: (t) => bearer(t.refresh), status: 400, error: 'InvalidToken' },
  { name: 'access token as refresh', nsid: 'com.atproto.server.refreshSession', method: 'POST', headers: (t) => bearer(t.access), status: 400, error: 'InvalidToken' },
  { name: 'admin route with a user token', nsid: 'com.atproto.server.createInviteCode', body: { useCount: 1 }, headers: (t) => bearer(t.access), status: 401, error: 'AuthenticationRequired' },
  { name: 'malformed basic auth', nsid: 'com.atproto.server.createInviteCode', body: { useCount: 1 }, headers: { authorization: 'Basic !!!' }, status: 401, error: 'AuthenticationRequired' },
  { name: 'resolveHandle without handle', nsid: 'com.atproto.identity.resolveHandle', status: 400, error: 'InvalidRequest' },
  { name: 'resolveHandle with an empty handle', nsid: 'com.atproto.identity.resolveHandle', query: { handle: '' }, status: 400, error: 'InvalidHandle' },
  { name: 'app password without name', nsid: 'com.atproto.server.createAppPassword', body: {}, headers: (t) => bearer(t.access), status: 400, error: 'InvalidRequest' },
]

describe('bad input gets a clear XRPC error', () => {
  let plc: TestPlc
  let pds: TestPds
  let tokens: Tokens
  let did: string

  before(async () => {
    plc = await startPlc()
    pds = await startPds({ plcUrl: plc.url })
    const user = await createUser(pds)
    tokens = { access: user.agent.session!.accessJwt, refresh: user.agent.session!.refreshJwt }
    did = user.did
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  for (const c of cases) {
    it(c.name, async () => {
      const accountsBefore = pds.ctx.accounts.store.count()
      const headers = typeof c.headers === 'function' ? c.headers(tokens) : c.headers
      const res = await xrpc(pds, c.nsid, { method: c.method, query: c.query, body: c.body, rawBody: c.rawBody, headers })
      assert.equal(res.status, c.status, JSON.stringify(res.body))
      assert.equal(res.body?.error, c.error, JSON.stringify(res.body))
      assert.equal(typeof res.body.message, 'string')
      assert.match(res.headers.get('content-type') ?? '', /application\/json/)
      assert.equal(pds.ctx.accounts.store.count(), accountsBefore, 'nothing was created')
    })
  }

  it('a record with a "__proto__" key is refused whole, not stored without that key', async () => {
    const seq = pds.ctx.sequencer.latestSeq()
    const rawBody = `{"repo":"${did}","collection":"com.example.foo","record":{"$type":"com.example.foo","__proto__":{"a":1}}}`
    const res = await xrpc(pds, 'com.atproto.repo.createRecord', { rawBody, headers: bearer(tokens.access) })
    assert.equal(res.status, 400, JSON.stringify(res.body))
    assert.equal(res.body.error, 'InvalidRequest')
    assert.equal(pds.ctx.sequencer.latestSeq(), seq, 'nothing was committed')
  })

  it('deeply nested JSON is a 400 before anything walks it, whatever the method; real nesting passes', async () => {
    const nest = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
    const seq = pds.ctx.sequencer.latestSeq()
    for (const depth of [129, 10_000, 70_000]) {
      const record = `{"repo":"${did}","collection":"com.example.foo","record":{"$type":"com.example.foo","v":${nest(depth)}}}`
      const prefs = `{"preferences":[{"$type":"app.bsky.actor.defs#savedFeedsPref","v":${nest(depth)}}]}`
      for (const [nsid, rawBody] of [['com.atproto.repo.createRecord', record], ['app.bsky.actor.putPreferences', prefs]]) {
        const res = await xrpc(pds, nsid, { rawBody, headers: bearer(tokens.access) })
        assert.equal(res.status, 400, `${nsid} at depth ${depth}: ${JSON.stringify(res.body).slice(0, 200)}`)
        assert.deepEqual(res.body, { error: 'InvalidRequest', message: 'Input is nested too deeply (more than 128 levels)' })
      }
    }
    assert.equal(pds.ctx.sequencer.latestSeq(), seq, 'nothing was committed')
    // 120 levels of the record (plus the body's own two) is within the limit and stored.
    const ok = await xrpc(pds, 'com.atproto.repo.createRecord', {
      rawBody: `{"repo":"${did}","collection":"com.example.foo","record":{"$type":"com.example.foo","v":${nest(120)}}}`,
      headers: bearer(tokens.access),
    })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
  })

  it('still serves after all of the above', async () => {
    const health = await xrpc(pds, '_health')
    assert.equal(health.status, 200)
    assert.equal(typeof health.body.version, 'string')
  })
})
