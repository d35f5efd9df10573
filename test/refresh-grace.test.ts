// A spent refresh token keeps working for 2 hours (never past its own expiry), like the reference PDS's, so a client
// that lost a refresh's answer can retry; retries and racing refreshes converge on one next token. The server's
// session clock is stepped by the test instead of waited out.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { TestPlc } from './helpers/plc.ts'
import { createUser, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'

const HOUR_MS = 60 * 60 * 1000

describe('refresh token grace period', () => {
  let plc: TestPlc
  let pds: TestPds
  // Only ever moves forward, so each test starts a fresh login at whatever time the previous one left behind.
  let offsetMs = 0
  const advance = (ms: number) => {
    offsetMs += ms
  }

  before(async () => ({ plc, pds } = await startServers({ now: () => Date.now() + offsetMs })))
  after(() => stopServers({ plc, pds }))

  const refresh = (refreshJwt: string) =>
    xrpc(pds, 'com.atproto.server.refreshSession', { method: 'POST', headers: { authorization: `Bearer ${refreshJwt}` } })
  const logout = (refreshJwt: string) =>
    xrpc(pds, 'com.atproto.server.deleteSession', { method: 'POST', headers: { authorization: `Bearer ${refreshJwt}` } })
  const getSession = (accessJwt: string) =>
    xrpc(pds, 'com.atproto.server.getSession', { headers: { authorization: `Bearer ${accessJwt}` } })
  const jtiOf = (jwt: string): string => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).jti

  async function login() {
    const user = await createUser(pds)
    return { did: user.did, accessJwt: user.agent.session!.accessJwt, refreshJwt: user.agent.session!.refreshJwt }
  }

  it('an access token that worked is refused once it expires (verified tokens are remembered, expiry is not)', async () => {
    const { accessJwt } = await login()
    assert.equal((await getSession(accessJwt)).status, 200)
    assert.equal((await getSession(accessJwt)).status, 200, 'the second use is answered from the verified tokens')
    advance(2 * HOUR_MS + 1000) // access tokens live 2 hours, as the reference's
    const expired = await getSession(accessJwt)
    assert.deepEqual([expired.status, expired.body.error], [400, 'ExpiredToken'])
  })

  it('a spent token retried inside the window gets a working session: the same next token as the first answer', async () => {
    const { did, refreshJwt: first } = await login()
    const rotated = await refresh(first)
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body))
    assert.notEqual(jtiOf(rotated.body.refreshJwt), jtiOf(first))

    advance(HOUR_MS) // the client retries an hour later with the token whose answer it lost
    const retried = await refresh(first)
    assert.equal(retried.status, 200, JSON.stringify(retried.body))
    assert.equal(retried.body.did, did)
    assert.equal(jtiOf(retried.body.refreshJwt), jtiOf(rotated.body.refreshJwt), 'the retry converges on one token')

    // Both answers' access tokens work; the retry's refresh token moves the session on, and so (spent now, in its
    // own window) does the first answer's.
    assert.equal((await getSession(rotated.body.accessJwt)).status, 200)
    assert.equal((await getSession(retried.body.accessJwt)).status, 200)
    const next = await refresh(retried.body.refreshJwt)
    assert.equal(next.status, 200, JSON.stringify(next.body))
    assert.notEqual(jtiOf(next.body.refreshJwt), jtiOf(retried.body.refreshJwt))
    const alsoNext = await refresh(rotated.body.refreshJwt)
    assert.equal(alsoNext.status, 200, JSON.stringify(alsoNext.body))
    assert.equal(jtiOf(alsoNext.body.refreshJwt), jtiOf(next.body.refreshJwt))
    assert.equal((await getSession(next.body.accessJwt)).status, 200)
  })

  it('the window is 2 hours from the first use, and a retry does not extend it', async () => {
    const { refreshJwt: first } = await login()
    const rotated = await refresh(first)
    assert.equal(rotated.status, 200)

    advance(2 * HOUR_MS - 60_000)
    assert.equal((await refresh(first)).status, 200, 'one minute before the window closes')
    advance(2 * 60_000)
    const late = await refresh(first)
    assert.equal(late.status, 400)
    assert.deepEqual(late.body, { error: 'ExpiredToken', message: 'Token has been revoked' })

    // Only the spent token is refused: the session lives on for the holder of its current token.
    const current = await refresh(rotated.body.refreshJwt)
    assert.equal(current.status, 200, JSON.stringify(current.body))
    assert.equal((await getSession(current.body.accessJwt)).status, 200)
  })

  it('the window never outlasts the token: spent an hour before its expiry, it works for that hour only', async () => {
    const { refreshJwt: first } = await login()
    const { exp } = JSON.parse(Buffer.from(first.split('.')[1], 'base64url').toString())
    advance(exp * 1000 - (Date.now() + offsetMs) - HOUR_MS)
    const rotated = await refresh(first)
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body))

    advance(HOUR_MS - 60_000)
    assert.equal((await refresh(first)).status, 200, 'still inside both the window and the token')
    advance(2 * 60_000) // inside 2 h of its use, but past the token's own expiry
    const late = await refresh(first)
    assert.equal(late.status, 400)
    assert.equal(late.body.error, 'ExpiredToken')
    assert.equal((await refresh(rotated.body.refreshJwt)).status, 200, 'its replacement has its own 90 days')
  })

  it('logout ends the whole session: its current and its spent tokens are refused at once', async () => {
    const { accessJwt, refreshJwt: first } = await login()
    const rotated = await refresh(first)
    assert.equal(rotated.status, 200)
    assert.equal((await logout(rotated.body.refreshJwt)).status, 200)

    for (const [name, res] of [
      ['spent refresh token', await refresh(first)],
      ['current refresh token', await refresh(rotated.body.refreshJwt)],
      ['first access token', await getSession(accessJwt)],
      ['rotated access token', await getSession(rotated.body.accessJwt)],
    ] as const) {
      assert.equal(res.status, 400, name)
      assert.deepEqual(res.body, { error: 'ExpiredToken', message: 'Token has been revoked' }, name)
    }
  })

  it('logout with a spent token inside its window also ends the session', async () => {
    const { refreshJwt: first } = await login()
    const rotated = await refresh(first)
    assert.equal(rotated.status, 200)
    assert.equal((await logout(first)).status, 200)
    const res = await refresh(rotated.body.refreshJwt)
    assert.equal(res.status, 400)
    assert.equal(res.body.error, 'ExpiredToken')
  })

  it('a token spent longer ago no longer speaks for the session: logout with it is refused and changes nothing', async () => {
    const { refreshJwt: first } = await login()
    const rotated = await refresh(first)
    assert.equal(rotated.status, 200)
    advance(2 * HOUR_MS + 1000)
    const res = await logout(first)
    assert.equal(res.status, 400)
    assert.deepEqual(res.body, { error: 'ExpiredToken', message: 'Token has been revoked' })
    // The session lives on for the holder of its current refresh token.
    const current = await refresh(rotated.body.refreshJwt)
    assert.equal(current.status, 200, JSON.stringify(current.body))
    assert.equal((await getSession(current.body.accessJwt)).status, 200)
  })

  it('two refreshes racing with the same token both succeed, with one next token', async () => {
    const { refreshJwt: first } = await login()
    const [a, b] = await Promise.all([refresh(first), refresh(first)])
    assert.equal(a.status, 200, JSON.stringify(a.body))
    assert.equal(b.status, 200, JSON.stringify(b.body))
    assert.equal(jtiOf(a.body.refreshJwt), jtiOf(b.body.refreshJwt))
    assert.equal((await getSession(a.body.accessJwt)).status, 200)
    assert.equal((await getSession(b.body.accessJwt)).status, 200)
    assert.equal((await refresh(a.body.refreshJwt)).status, 200)
  })

  it('the loser of a rotation race (both read the session before either writes) is served the winner’s token', async () => {
    const { did, refreshJwt: first } = await login()
    const payload = JSON.parse(Buffer.from(first.split('.')[1], 'base64url').toString())
    const claims = { did, sessionId: payload.sid, jti: payload.jti, exp: payload.exp }
    // Both calls read the row synchronously, then await signing: the second one's conditional UPDATE finds the row
    // already moved and must fall back to the spent-token path rather than fail.
    const [a, b] = await Promise.all([pds.ctx.sessions.rotate(claims), pds.ctx.sessions.rotate(claims)])
    assert.ok(a && b, 'both rotations answered')
    assert.equal(jtiOf(a.refreshJwt), jtiOf(b.refreshJwt))
    assert.equal((await refresh(b.refreshJwt)).status, 200)
  })
})
