// The operator's com.atproto.admin.* methods over HTTP, with @atproto/api's AtpAgent (its lexicons check every answer)
// and HTTP Basic admin auth, against a real server, PLC directory and SMTP server. Wire behaviour as the reference PDS's
// api/com/atproto/admin/*.js: field names, error names, statuses.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AtpAgent, XRPCError } from '@atproto/api'
import { startPds, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { TestSmtp } from './helpers/smtp.ts'

type User = { agent: AtpAgent; did: string; handle: string; email: string; password: string; inviteCode: string }

describe('com.atproto.admin.* (account administration)', () => {
  let plc: TestPlc
  let smtp: TestSmtp
  let pds: TestPds
  let admin: AtpAgent
  let alice: User
  let bob: User

  /** Expect `call` to fail with this status and XRPC error name; returns the message. */
  async function refused(call: Promise<unknown>, status: number, error: string): Promise<string> {
    const err = await call.then(
      () => assert.fail(`expected ${status} ${error}`),
      (e: unknown) => e,
    )
    assert.ok(err instanceof XRPCError, String(err))
    assert.equal(err.status, status, err.message)
    assert.equal(err.error, error, err.message)
    return err.message
  }

  /** A signup with a fresh invite code made by the operator (this server requires codes). */
  async function signup(prefix: string): Promise<User> {
    const { data } = await admin.com.atproto.server.createInviteCode({ useCount: 1 })
    const agent = pds.agent()
    const handle = uniqueHandle(prefix)
    const email = `${handle.split('.')[0]}@example.com`
    const password = `pw-${handle}`
    const res = await agent.createAccount({ handle, email, password, inviteCode: data.code })
    return { agent, did: res.data.did, handle, email, password, inviteCode: data.code }
  }

  before(async () => {
    plc = await startPlc()
    smtp = await TestSmtp.start()
    pds = await startPds({
      plcUrl: plc.url,
      env: { PDS_INVITE_REQUIRED: 'true', PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: 'pds@example.com' },
    })
    admin = new AtpAgent({ service: pds.url, headers: [['authorization', pds.adminAuth]] })
    alice = await signup('alice')
    bob = await signup('bob')
  })
  after(async () => {
    await pds?.destroy()
    await smtp?.close()
    await plc?.close()
  })

  it('refuses anyone but the operator', async () => {
    const wrong = 'Basic ' + Buffer.from('admin:not-the-password').toString('base64')
    const cases: [string, Record<string, string>][] = [
      ['no credentials', {}],
      ['a user session', { authorization: `Bearer ${alice.agent.session!.accessJwt}` }],
      ['a wrong admin password', { authorization: wrong }],
    ]
    for (const [what, headers] of cases) {
      const read = await xrpc(pds, 'com.atproto.admin.getAccountInfo', { query: { did: alice.did }, headers })
      assert.equal(read.status, 401, what)
      assert.equal(read.body.error, 'AuthenticationRequired', what)
      const write = await xrpc(pds, 'com.atproto.admin.updateAccountPassword', {
        body: { did: alice.did, password: 'taken-over' },
        headers,
      })
      assert.equal(write.status, 401, what)
    }
    await alice.agent.com.atproto.server.getSession() // her password and session were not touched
  })

  it('getAccountInfo: the account with its invite codes and the code it signed up with; NotFound otherwise', async () => {
    await admin.com.atproto.server.createInviteCodes({ useCount: 2, codeCount: 2, forAccounts: [alice.did] })
    const { data } = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
    assert.equal(data.did, alice.did)
    assert.equal(data.handle, alice.handle)
    assert.equal(data.email, alice.email)
    assert.ok(!Number.isNaN(Date.parse(data.indexedAt)))
    assert.equal(data.emailConfirmedAt, undefined)
    assert.equal(data.invitesDisabled, false)
    assert.equal(data.invitedBy?.code, alice.inviteCode)
    assert.deepEqual(data.invitedBy?.uses.map((u) => u.usedBy), [alice.did])
    assert.equal(data.invites?.length, 2)
    for (const code of data.invites!) {
      assert.equal(code.forAccount, alice.did)
      assert.equal(code.available, 2)
      assert.equal(code.createdBy, 'admin')
      assert.deepEqual(code.uses, [])
    }
    await refused(admin.com.atproto.admin.getAccountInfo({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'NotFound')
    const bad = await xrpc(pds, 'com.atproto.admin.getAccountInfo', { query: { did: 'nope' }, headers: { authorization: pds.adminAuth } })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.error, 'InvalidRequest')
  })

  it('getAccountInfos: the known accounts among the DIDs, unknown ones left out', async () => {
    const { data } = await admin.com.atproto.admin.getAccountInfos({
      dids: [alice.did, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', bob.did],
    })
    assert.deepEqual(data.infos.map((i) => i.handle), [alice.handle, bob.handle])
    const none = await xrpc(pds, 'com.atproto.admin.getAccountInfos', { headers: { authorization: pds.adminAuth } })
    assert.deepEqual([none.status, none.body.error], [400, 'InvalidRequest'])
  })

  it('getInviteCodes: every code, newest or most used first, a page at a time with a cursor', async () => {
    const all = new Set<string>()
    let cursor: string | undefined
    let pages = 0
    do {
      const { data } = await admin.com.atproto.admin.getInviteCodes({ limit: 2, cursor })
      assert.ok(data.codes.length <= 2)
      for (const c of data.codes) {
        assert.ok(!all.has(c.code), `${c.code} twice`)
        all.add(c.code)
      }
      cursor = data.codes.length ? data.cursor : undefined
      pages += 1
    } while (cursor && pages < 20)
    // alice's and bob's signup codes, and alice's two
    assert.ok(all.has(alice.inviteCode) && all.has(bob.inviteCode))
    assert.ok(all.size >= 4, `${all.size} codes`)

    const recent = (await admin.com.atproto.admin.getInviteCodes({ sort: 'recent' })).data.codes
    const times = recent.map((c) => c.createdAt)
    assert.deepEqual(times, [...times].sort().reverse())
    const usage = (await admin.com.atproto.admin.getInviteCodes({ sort: 'usage' })).data.codes
    const counts = usage.map((c) => c.uses.length)
    assert.deepEqual(counts, [...counts].sort((a, b) => b - a))
    assert.equal(counts[0], 1)

    assert.match(await refused(admin.com.atproto.admin.getInviteCodes({ sort: 'oldest' }), 400, 'InvalidRequest'), /unknown sort method/)
    await refused(admin.com.atproto.admin.getInviteCodes({ cursor: 'garbage' }), 400, 'InvalidRequest')
  })

  it('disableInviteCodes: by code and by account; the operator\'s own cannot be disabled by account', async () => {
    const { data } = await admin.com.atproto.server.createInviteCodes({ useCount: 1, codeCount: 2, forAccounts: [bob.did] })
    const [one, two] = data.codes[0].codes
    const spare = (await admin.com.atproto.server.createInviteCode({ useCount: 1 })).data.code
    await admin.com.atproto.admin.disableInviteCodes({ codes: [spare] })
    await refused(
      pds.agent().createAccount({ handle: uniqueHandle('carol'), email: 'carol@example.com', password: 'pw', inviteCode: spare }),
      400,
      'InvalidInviteCode',
    )
    await admin.com.atproto.admin.disableInviteCodes({ accounts: [bob.did] })
    const bobs = (await admin.com.atproto.admin.getAccountInfo({ did: bob.did })).data.invites!
    assert.deepEqual(bobs.filter((c) => [one, two].includes(c.code)).map((c) => c.disabled), [true, true])
    assert.match(
      await refused(admin.com.atproto.admin.disableInviteCodes({ accounts: ['admin'] }), 400, 'InvalidRequest'),
      /cannot disable admin invite codes/,
    )
  })

  it('disableAccountInvites / enableAccountInvites: the invitesDisabled flag', async () => {
    await admin.com.atproto.admin.disableAccountInvites({ account: bob.did, note: 'spam' })
    assert.equal((await admin.com.atproto.admin.getAccountInfo({ did: bob.did })).data.invitesDisabled, true)
    await admin.com.atproto.admin.enableAccountInvites({ account: bob.did })
    assert.equal((await admin.com.atproto.admin.getAccountInfo({ did: bob.did })).data.invitesDisabled, false)
    await refused(admin.com.atproto.admin.disableAccountInvites({ account: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'InvalidRequest')
  })

  it('sendEmail: through the mailer to the account\'s address', async () => {
    const { data } = await admin.com.atproto.admin.sendEmail({
      recipientDid: bob.did,
      senderDid: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
      subject: 'About your account',
      content: 'Hello Bob,\nplease read our rules.',
    })
    assert.deepEqual(data, { sent: true })
    const mail = await smtp.next(bob.email)
    assert.equal(mail.subject, 'About your account')
    assert.match(mail.text, /Hello Bob,\nplease read our rules\./)
    await admin.com.atproto.admin.sendEmail({ recipientDid: bob.did, senderDid: bob.did, content: 'Second' })
    assert.equal((await smtp.next(bob.email)).subject, 'Message via your PDS')

    assert.match(
      await refused(
        admin.com.atproto.admin.sendEmail({ recipientDid: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', senderDid: bob.did, content: 'x' }),
        400,
        'InvalidRequest',
      ),
      /Recipient not found/,
    )
    const noSender = await xrpc(pds, 'com.atproto.admin.sendEmail', {
      body: { recipientDid: bob.did, content: 'x' },
      headers: { authorization: pds.adminAuth },
    })
    assert.deepEqual(noSender.body, { error: 'InvalidRequest', message: 'Input must have the property "senderDid"' })
    assert.deepEqual(smtp.pending(bob.email), [])
  })

  it('updateAccountEmail: by handle or DID, unconfirmed; an address in use is refused', async () => {
    await admin.com.atproto.admin.updateAccountEmail({ account: alice.handle, email: 'Alice.New@Example.com' })
    const { data } = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
    assert.equal(data.email, 'alice.new@example.com')
    assert.equal(data.emailConfirmedAt, undefined)
    assert.match(
      await refused(admin.com.atproto.admin.updateAccountEmail({ account: alice.did, email: bob.email }), 400, 'InvalidRequest'),
      /already in use/,
    )
    assert.match(
      await refused(admin.com.atproto.admin.updateAccountEmail({ account: 'nobody.test', email: 'n@example.com' }), 400, 'InvalidRequest'),
      /Account does not exist: nobody\.test/,
    )
    await refused(admin.com.atproto.admin.updateAccountEmail({ account: alice.did, email: 'not an address' }), 400, 'InvalidRequest')
  })

  it('updateAccountHandle: through the PLC directory, reserved words allowed; a taken handle is refused', async () => {
    const handle = 'support.test'
    await admin.com.atproto.admin.updateAccountHandle({ did: alice.did, handle })
    const resolved = await pds.agent().com.atproto.identity.resolveHandle({ handle })
    assert.equal(resolved.data.did, alice.did)
    const doc = (await (await fetch(`${plc.url}/${alice.did}`)).json()) as { alsoKnownAs: string[] }
    assert.deepEqual(doc.alsoKnownAs, [`at://${handle}`])
    // The owner may not take a reserved word.
    await refused(alice.agent.com.atproto.identity.updateHandle({ handle: 'admin.test' }), 400, 'HandleNotAvailable')
    await refused(admin.com.atproto.admin.updateAccountHandle({ did: bob.did, handle }), 400, 'HandleNotAvailable')
    await refused(admin.com.atproto.admin.updateAccountHandle({ did: bob.did, handle: 'x.test' }), 400, 'InvalidHandle')
    alice.handle = handle
  })

  it('updateAccountPassword: the new password works, the old one and every session do not', async () => {
    const session = alice.agent.session!
    await admin.com.atproto.admin.updateAccountPassword({ did: alice.did, password: 'a brand new password' })
    const stale = await xrpc(pds, 'com.atproto.server.getSession', { headers: { authorization: `Bearer ${session.accessJwt}` } })
    assert.deepEqual([stale.status, stale.body.error], [400, 'ExpiredToken'])
    await refused(pds.agent().login({ identifier: alice.did, password: alice.password }), 401, 'AuthenticationRequired')
    await pds.agent().login({ identifier: alice.did, password: 'a brand new password' })
    const long = 'x'.repeat(257)
    assert.match(
      await refused(admin.com.atproto.admin.updateAccountPassword({ did: alice.did, password: long }), 400, 'InvalidRequest'),
      /Invalid password length/,
    )
    await refused(admin.com.atproto.admin.updateAccountPassword({ did: alice.did, password: '' }), 400, 'InvalidRequest')
    await refused(
      admin.com.atproto.admin.updateAccountPassword({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', password: 'whatever' }),
      400,
      'InvalidRequest',
    )
  })
})
