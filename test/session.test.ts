// Accounts and sessions through the official client, against a real PLC directory.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import type { TestPlc } from './helpers/plc.ts'
import { createUser, uniqueHandle, xrpc, type TestPds, startServers, stopServers } from './helpers/pds.ts'

describe('accounts and sessions (AtpAgent)', () => {
  let plc: TestPlc
  let pds: TestPds

  before(async () => ({ plc, pds } = await startServers()))
  after(() => stopServers({ plc, pds }))

  it('describeServer names the service DID and the handle domains', async () => {
    const { data } = await pds.agent().com.atproto.server.describeServer()
    assert.equal(data.did, pds.ctx.cfg.serviceDid)
    assert.deepEqual(data.availableUserDomains, ['.test'])
    assert.equal(data.inviteCodeRequired, false)
  })

  it('creates an account, logs in, resumes, refreshes and logs out', async () => {
    const handle = uniqueHandle('Alice')
    const { agent, did, password, email } = await createUser(pds, handle)
    assert.match(did, /^did:plc:[a-z2-7]{24}$/)
    assert.equal(agent.session?.handle, handle.toLowerCase(), 'handle is stored lower-case')

    const login = pds.agent()
    const res = await login.login({ identifier: handle.toUpperCase(), password })
    assert.equal(res.data.did, did)
    assert.equal(res.data.email, email.toLowerCase())
    assert.equal(res.data.active, true)
    assert.equal((res.data.didDoc as any)?.id, did)

    // Resume in a fresh client from the stored session: AtpAgent refreshes on resume, which spends the old token.
    const resumed = pds.agent()
    await resumed.resumeSession(login.session!)
    const session = await resumed.com.atproto.server.getSession()
    assert.equal(session.data.did, did)
    assert.equal(session.data.handle, handle.toLowerCase())
    assert.notEqual(resumed.session!.refreshJwt, login.session!.refreshJwt)
    // A spent token still works for a grace period (test/refresh-grace.test.ts), so a lost answer can be retried.
    const replay = await xrpc(pds, 'com.atproto.server.refreshSession', {
      method: 'POST',
      headers: { authorization: `Bearer ${login.session!.refreshJwt}` },
    })
    assert.equal(replay.status, 200, JSON.stringify(replay.body))

    // An explicit refresh rotates the pair again.
    const current = resumed.session!.refreshJwt
    const refreshed = await xrpc(pds, 'com.atproto.server.refreshSession', {
      method: 'POST',
      headers: { authorization: `Bearer ${current}` },
    })
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body))
    assert.notEqual(refreshed.body.refreshJwt, current)
    assert.equal(refreshed.body.did, did)

    // The new pair works, then logout kills both of its tokens.
    const access = refreshed.body.accessJwt
    const ok = await xrpc(pds, 'com.atproto.server.getSession', { headers: { authorization: `Bearer ${access}` } })
    assert.equal(ok.status, 200)
    const logout = await xrpc(pds, 'com.atproto.server.deleteSession', {
      method: 'POST',
      headers: { authorization: `Bearer ${refreshed.body.refreshJwt}` },
    })
    assert.equal(logout.status, 200)
    const after = await xrpc(pds, 'com.atproto.server.getSession', { headers: { authorization: `Bearer ${access}` } })
    assert.equal(after.status, 400)
    assert.equal(after.body.error, 'ExpiredToken')
  })

  it('AtpAgent refreshes by itself when the access token is refused as expired', async () => {
    const { password, handle } = await createUser(pds)
    const agent = pds.agent()
    await agent.login({ identifier: handle, password })
    const firstRefresh = agent.session!.refreshJwt
    // Forge an expired access token signed with the server's key: the agent must refresh and retry.
    const { SignJWT } = await import('jose')
    const { createSecretKey } = await import('node:crypto')
    const claims = JSON.parse(Buffer.from(agent.session!.accessJwt.split('.')[1], 'base64url').toString())
    const expired = await new SignJWT({ scope: claims.scope, sid: claims.sid })
      .setProtectedHeader({ typ: 'at+jwt', alg: 'HS256' })
      .setAudience(claims.aud)
      .setSubject(claims.sub)
      .setIssuedAt(claims.iat - 7200)
      .setExpirationTime(claims.iat - 3600)
      .sign(createSecretKey(Buffer.from(pds.ctx.cfg.secrets.jwtSecret)))
    const raw = await xrpc(pds, 'com.atproto.server.getSession', { headers: { authorization: `Bearer ${expired}` } })
    assert.equal(raw.status, 400)
    assert.equal(raw.body.error, 'ExpiredToken')
    // Swap the token in place (resumeSession would refresh up front and prove nothing).
    agent.sessionManager.session = { ...agent.session!, accessJwt: expired }
    const res = await agent.com.atproto.server.getSession()
    assert.equal(res.data.handle, handle)
    assert.notEqual(agent.session!.refreshJwt, firstRefresh, 'the agent refreshed')
  })

  it('logs in by email and by DID; a wrong password is AuthenticationRequired', async () => {
    const { did, email, password } = await createUser(pds)
    for (const identifier of [email.toUpperCase(), did]) {
      const res = await pds.agent().login({ identifier, password })
      assert.equal(res.data.did, did)
    }
    const bad = await xrpc(pds, 'com.atproto.server.createSession', { body: { identifier: did, password: 'nope' } })
    assert.equal(bad.status, 401)
    assert.equal(bad.body.error, 'AuthenticationRequired')
    const unknown = await xrpc(pds, 'com.atproto.server.createSession', {
      body: { identifier: 'nobody.test', password },
    })
    assert.equal(unknown.status, 401)
  })

  it('refuses duplicate handles and emails, and reserved handles', async () => {
    const { handle, email } = await createUser(pds)
    const dupHandle = await xrpc(pds, 'com.atproto.server.createAccount', {
      body: { handle: handle.toUpperCase(), email: 'other@example.com', password: 'x' },
    })
    assert.equal(dupHandle.status, 400)
    assert.equal(dupHandle.body.error, 'HandleNotAvailable')
    const dupEmail = await xrpc(pds, 'com.atproto.server.createAccount', {
      body: { handle: uniqueHandle(), email, password: 'x' },
    })
    assert.equal(dupEmail.status, 400)
    assert.match(dupEmail.body.message, /Email already taken/)
    const reserved = await xrpc(pds, 'com.atproto.server.createAccount', {
      body: { handle: 'admin.test', email: 'admin@example.com', password: 'x' },
    })
    assert.equal(reserved.body.error, 'HandleNotAvailable')
    const otherDomain = await xrpc(pds, 'com.atproto.server.createAccount', {
      body: { handle: 'alice.example.com', email: 'a2@example.com', password: 'x' },
    })
    assert.equal(otherDomain.body.error, 'UnsupportedDomain')
    assert.equal(pds.ctx.accounts.store.byEmail('other@example.com'), undefined)
  })

  it('app passwords log in, cannot manage the account, and die when revoked', async () => {
    const { agent, handle, did } = await createUser(pds)
    const created = await agent.com.atproto.server.createAppPassword({ name: 'my client' })
    assert.match(created.data.password, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/)
    const dup = await xrpc(pds, 'com.atproto.server.createAppPassword', {
      body: { name: 'my client' },
      headers: { authorization: `Bearer ${agent.session!.accessJwt}` },
    })
    assert.equal(dup.status, 400)

    const appAgent = pds.agent()
    const login = await appAgent.login({ identifier: handle, password: created.data.password })
    assert.equal(login.data.did, did)
    assert.equal(login.data.email, undefined, 'a plain app password does not see the email')
    // Usable for normal calls…
    assert.equal((await appAgent.com.atproto.server.getSession()).data.did, did)
    // …but not for managing the account.
    const manage = await xrpc(pds, 'com.atproto.server.listAppPasswords', {
      headers: { authorization: `Bearer ${appAgent.session!.accessJwt}` },
    })
    assert.equal(manage.status, 400)
    assert.equal(manage.body.error, 'InvalidToken')

    const list = await agent.com.atproto.server.listAppPasswords()
    assert.deepEqual(
      list.data.passwords.map((p) => [p.name, p.privileged]),
      [['my client', false]],
    )
    await agent.com.atproto.server.revokeAppPassword({ name: 'my client' })
    const revoked = await xrpc(pds, 'com.atproto.server.getSession', {
      headers: { authorization: `Bearer ${appAgent.session!.accessJwt}` },
    })
    assert.equal(revoked.body.error, 'ExpiredToken')
    const relogin = await xrpc(pds, 'com.atproto.server.createSession', {
      body: { identifier: handle, password: created.data.password },
    })
    assert.equal(relogin.status, 401)
  })

  it('a refresh token is not an access token and vice versa', async () => {
    const { agent } = await createUser(pds)
    const { accessJwt, refreshJwt } = agent.session!
    const r1 = await xrpc(pds, 'com.atproto.server.getSession', { headers: { authorization: `Bearer ${refreshJwt}` } })
    assert.equal(r1.status, 400)
    assert.equal(r1.body.error, 'InvalidToken')
    const r2 = await xrpc(pds, 'com.atproto.server.refreshSession', {
      method: 'POST',
      headers: { authorization: `Bearer ${accessJwt}` },
    })
    assert.equal(r2.status, 400)
    assert.equal(r2.body.error, 'InvalidToken')
  })
})

describe('invite codes', () => {
  let plc: TestPlc
  let pds: TestPds
  before(async () => ({ plc, pds } = await startServers({ env: { PDS_INVITE_REQUIRED: 'true' } })))
  after(() => stopServers({ plc, pds }))

  it('are created with admin auth and spent at signup', async () => {
    const noAuth = await xrpc(pds, 'com.atproto.server.createInviteCode', { body: { useCount: 1 } })
    assert.equal(noAuth.status, 401)
    const wrong = await xrpc(pds, 'com.atproto.server.createInviteCode', {
      body: { useCount: 1 },
      headers: { authorization: 'Basic ' + Buffer.from('admin:wrong').toString('base64') },
    })
    assert.equal(wrong.status, 401)
    const made = await xrpc(pds, 'com.atproto.server.createInviteCode', {
      body: { useCount: 1 },
      headers: { authorization: pds.adminAuth },
    })
    assert.equal(made.status, 200)
    const code: string = made.body.code

    const agent = new AtpAgent({ service: pds.url })
    const without = await xrpc(pds, 'com.atproto.server.createAccount', {
      body: { handle: uniqueHandle(), email: 'inv0@example.com', password: 'pw' },
    })
    assert.equal(without.body.error, 'InvalidInviteCode')
    await agent.createAccount({ handle: uniqueHandle(), email: 'inv1@example.com', password: 'pw', inviteCode: code })
    const spent = await xrpc(pds, 'com.atproto.server.createAccount', {
      body: { handle: uniqueHandle(), email: 'inv2@example.com', password: 'pw', inviteCode: code },
    })
    assert.equal(spent.body.error, 'InvalidInviteCode')

    const many = await xrpc(pds, 'com.atproto.server.createInviteCodes', {
      body: { codeCount: 3, useCount: 2 },
      headers: { authorization: pds.adminAuth },
    })
    assert.equal(many.status, 200)
    assert.equal(many.body.codes[0].codes.length, 3)
    assert.equal(new Set(many.body.codes[0].codes).size, 3)
  })
})
