// Account self-service with mailed codes, end to end: a real SMTP server receives each mail, the code parsed out of
// it completes the flow through @atproto/api's AtpAgent, and every refused request leaves the account as it was.
// The server's clock is stepped (not waited on) to expire codes.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { parseConfig, ConfigError } from '../src/config/index.ts'
import { EMAIL_TOKEN_LIFETIME_MS } from '../src/account/email-tokens.ts'
import { createLogger } from '../src/logger.ts'
import { Mailer } from '../src/mailer/mailer.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { createUser, startPds, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { TestSmtp, type ReceivedMail } from './helpers/smtp.ts'

type User = Awaited<ReturnType<typeof createUser>>
type LogLine = Record<string, any>

const FROM = 'Aurora Locus <noreply@example.com>'

/** A logger at info whose lines (parsed) land in `lines`; pino writes each synchronously. */
function capturingLogger(lines: LogLine[]) {
  return createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } })
}

/** The XRPC error an @atproto/api call failed with: `<status> <error>`. */
async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call
  } catch (err) {
    const e = err as { status?: number; error?: string }
    if (e.status) return `${e.status} ${e.error}`
    throw err
  }
  assert.fail('the call succeeded')
}

describe('account self-service by email', () => {
  let plc: TestPlc
  let smtp: TestSmtp
  let pds: TestPds
  const lines: LogLine[] = []
  let clockOffset = 0

  before(async () => {
    plc = await startPlc()
    smtp = await TestSmtp.start()
    pds = await startPds({
      plcUrl: plc.url,
      env: { PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: FROM },
      now: () => Date.now() + clockOffset,
      log: capturingLogger(lines),
    })
  })
  after(async () => {
    await pds?.destroy()
    await smtp?.close()
    await plc?.close()
  })
  beforeEach(() => {
    clockOffset = 0
  })

  const account = (did: string) => pds.ctx.accounts.store.byDid(did)
  const codes = (did: string) =>
    pds.db.prepare('SELECT purpose FROM email_token WHERE did = ? ORDER BY purpose').pluck().all(did) as string[]
  const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })
  const api = (user: User) => user.agent.com.atproto.server

  /** The next mail to `to`, checked to come from us with `subject` and carry a code. */
  async function mailTo(to: string, subject: string): Promise<ReceivedMail & { token: string }> {
    const mail = await smtp.next(to)
    assert.equal(mail.headers.from, FROM)
    assert.equal(mail.subject, subject)
    assert.ok(mail.token, `a code in: ${mail.text}`)
    return mail as ReceivedMail & { token: string }
  }

  /** Ask for a code as `user` (a confirmation, or a deletion) and return it from the mail that brings it. */
  async function mailedCode(user: User, purpose: 'confirm' | 'delete'): Promise<string> {
    if (purpose === 'confirm') await api(user).requestEmailConfirmation()
    else await api(user).requestAccountDelete()
    const subject = purpose === 'confirm' ? 'Email Confirmation' : 'Account Deletion Requested'
    return (await mailTo(user.email, subject)).token
  }

  async function confirmedUser(): Promise<User> {
    const user = await createUser(pds)
    await api(user).confirmEmail({ email: user.email, token: await mailedCode(user, 'confirm') })
    return user
  }

  describe('confirmEmail', () => {
    it('confirms the address with the mailed code; getSession says so; the code works once', async () => {
      const alice = await createUser(pds)
      assert.equal((await api(alice).getSession()).data.emailConfirmed, false)

      await api(alice).requestEmailConfirmation()
      const mail = await mailTo(alice.email, 'Email Confirmation')
      assert.deepEqual(mail.to, [alice.email])
      assert.match(mail.text, new RegExp(`@${alice.handle.replace(/\./g, '\\.')}`))
      assert.match(mail.token, /^[A-Z2-7]{5}-[A-Z2-7]{5}$/)

      // Any case, spaces around it: as a person might type it.
      await api(alice).confirmEmail({ email: alice.email.toUpperCase(), token: ` ${mail.token.toLowerCase()} ` })
      const session = await api(alice).getSession()
      assert.equal(session.data.emailConfirmed, true)
      assert.ok(account(alice.did)!.email_confirmed_at)
      assert.deepEqual(codes(alice.did), [], 'spent')
      assert.equal(await failure(api(alice).confirmEmail({ email: alice.email, token: mail.token })), '400 InvalidToken')
    })

    it('refuses another address, a wrong, replaced, expired or foreign code, and changes nothing', async () => {
      const bob = await createUser(pds)
      const carol = await createUser(pds)
      const replaced = await mailedCode(bob, 'confirm')
      const token = await mailedCode(bob, 'confirm')
      const carols = await mailedCode(carol, 'confirm')
      const deletion = await mailedCode(bob, 'delete')

      const confirm = (body: { email: string; token: string }) => failure(api(bob).confirmEmail(body))
      assert.equal(await confirm({ email: carol.email, token }), '400 InvalidEmail')
      assert.equal(await confirm({ email: bob.email, token: 'AAAAA-AAAAA' }), '400 InvalidToken')
      assert.equal(await confirm({ email: bob.email, token: replaced }), '400 InvalidToken', 'one live code')
      assert.equal(await confirm({ email: bob.email, token: carols }), '400 InvalidToken', "another's code")
      assert.equal(await confirm({ email: bob.email, token: deletion }), '400 InvalidToken', 'another purpose')
      assert.equal(await confirm({ email: bob.email, token: '' }), '400 InvalidToken')
      const missing = await xrpc(pds, 'com.atproto.server.confirmEmail', {
        body: { email: bob.email },
        headers: bearer(bob.agent.session!.accessJwt),
      })
      assert.deepEqual([missing.status, missing.body.error], [400, 'InvalidRequest'])
      assert.match(missing.body.message, /token/)
      clockOffset = EMAIL_TOKEN_LIFETIME_MS
      assert.equal(await confirm({ email: bob.email, token }), '400 ExpiredToken')
      clockOffset = 0

      assert.equal(account(bob.did)!.email_confirmed_at, null)
      assert.deepEqual(codes(bob.did), ['confirm_email', 'delete_account'], 'no code was spent by a refusal')
      // Carol's code was not spent by Bob's attempt, and Bob's still works.
      await api(carol).confirmEmail({ email: carol.email, token: carols })
      await api(bob).confirmEmail({ email: bob.email, token })
      assert.ok(account(bob.did)!.email_confirmed_at)
    })
  })

  describe('updateEmail', () => {
    it('before confirmation: no code, no mail; the new address is stored lower-case', async () => {
      const dan = await createUser(pds)
      assert.deepEqual((await api(dan).requestEmailUpdate()).data, { tokenRequired: false })
      assert.deepEqual(smtp.pending(dan.email), [], 'nothing mailed')
      const next = `New-${dan.email}`.toUpperCase()
      await api(dan).updateEmail({ email: next })
      assert.equal(account(dan.did)!.email, next.toLowerCase())
      const session = await api(dan).getSession()
      assert.deepEqual([session.data.email, session.data.emailConfirmed], [next.toLowerCase(), false])
    })

    it('after confirmation: the code goes to the current address, is required, and the new address is unconfirmed', async () => {
      const erin = await confirmedUser()
      // A confirmation code mailed to the old address must not confirm the new one.
      const oldConfirmation = await mailedCode(erin, 'confirm')

      assert.deepEqual((await api(erin).requestEmailUpdate()).data, { tokenRequired: true })
      const { token } = await mailTo(erin.email, 'Email Update Requested')
      const next = `moved-${erin.email}`
      assert.equal(await failure(api(erin).updateEmail({ email: next })), '400 TokenRequired')
      assert.equal(await failure(api(erin).updateEmail({ email: next, token: 'AAAAA-AAAAA' })), '400 InvalidToken')
      assert.equal(await failure(api(erin).updateEmail({ email: next, token: oldConfirmation })), '400 InvalidToken')
      clockOffset = EMAIL_TOKEN_LIFETIME_MS
      assert.equal(await failure(api(erin).updateEmail({ email: next, token })), '400 ExpiredToken')
      clockOffset = 0
      assert.equal(account(erin.did)!.email, erin.email, 'unchanged by the refusals')
      assert.ok(account(erin.did)!.email_confirmed_at)

      await api(erin).updateEmail({ email: next, token })
      const session = await api(erin).getSession()
      assert.deepEqual([session.data.email, session.data.emailConfirmed], [next, false])
      assert.deepEqual(codes(erin.did), [], 'every code mailed to the old address is gone')
      const stale = failure(api(erin).confirmEmail({ email: next, token: oldConfirmation }))
      assert.equal(await stale, '400 InvalidToken')
    })

    it('refuses a malformed, taken or missing address, and a taken one does not spend the code', async () => {
      const fay = await confirmedUser()
      const gus = await createUser(pds)
      await api(fay).requestEmailUpdate()
      const { token } = await mailTo(fay.email, 'Email Update Requested')

      const update = (email: string) => failure(api(fay).updateEmail({ email, token }))
      assert.equal(await update('not an address'), '400 InvalidRequest')
      assert.equal(await update(`${'x'.repeat(250)}@example.com`), '400 InvalidRequest')
      assert.equal(await update(gus.email.toUpperCase()), '400 InvalidRequest')
      const taken = await xrpc(pds, 'com.atproto.server.updateEmail', {
        body: { email: gus.email, token },
        headers: bearer(fay.agent.session!.accessJwt),
      })
      assert.equal(taken.body.message, 'This email address is already in use, please use a different email.')
      const missing = await xrpc(pds, 'com.atproto.server.updateEmail', {
        body: { token },
        headers: bearer(fay.agent.session!.accessJwt),
      })
      assert.deepEqual([missing.status, missing.body.error], [400, 'InvalidRequest'])
      assert.equal(account(fay.did)!.email, fay.email)
      assert.ok(account(fay.did)!.email_confirmed_at)
      assert.equal(account(gus.did)!.email, gus.email)

      await api(fay).updateEmail({ email: `other-${fay.email}`, token })
      assert.equal(account(fay.did)!.email, `other-${fay.email}`)
    })

    it('app passwords may ask for confirmation, but neither change the address nor ask for deletion', async () => {
      const hal = await createUser(pds)
      const { data: appPassword } = await api(hal).createAppPassword({ name: 'phone' })
      const phone = new AtpAgent({ service: pds.url })
      await phone.login({ identifier: hal.handle, password: appPassword.password })
      await phone.com.atproto.server.requestEmailConfirmation()
      await mailTo(hal.email, 'Email Confirmation')
      assert.equal(await failure(phone.com.atproto.server.updateEmail({ email: `x-${hal.email}` })), '400 InvalidToken')
      assert.equal(await failure(phone.com.atproto.server.requestAccountDelete()), '400 InvalidToken')
      assert.equal(account(hal.did)!.email, hal.email)
      assert.deepEqual(codes(hal.did), ['confirm_email'], 'no deletion code')
    })
  })

  describe('password reset', () => {
    it('resets with the mailed code: every session and refresh token ends, the new password works, the old does not', async () => {
      const ida = await createUser(pds)
      const other = new AtpAgent({ service: pds.url })
      await other.login({ identifier: ida.handle, password: ida.password })
      const sessions = [ida.agent.session!, other.session!]

      // No login; the address in any case.
      await pds.agent().com.atproto.server.requestPasswordReset({ email: ida.email.toUpperCase() })
      const mail = await mailTo(ida.email, 'Password Reset Requested')
      assert.match(mail.text, new RegExp(ida.handle.replace(/\./g, '\\.')))
      await pds.agent().com.atproto.server.resetPassword({ token: mail.token, password: 'a new password' })

      for (const session of sessions) {
        const access = await xrpc(pds, 'com.atproto.server.getSession', { headers: bearer(session.accessJwt) })
        assert.deepEqual([access.status, access.body.error], [400, 'ExpiredToken'])
        const refresh = await xrpc(pds, 'com.atproto.server.refreshSession', {
          method: 'POST',
          headers: bearer(session.refreshJwt),
        })
        assert.deepEqual([refresh.status, refresh.body.error], [400, 'ExpiredToken'])
      }
      assert.equal(await failure(pds.agent().login({ identifier: ida.handle, password: ida.password })), '401 AuthenticationRequired')
      await pds.agent().login({ identifier: ida.handle, password: 'a new password' })
      const again = pds.agent().com.atproto.server.resetPassword({ token: mail.token, password: 'another one' })
      assert.equal(await failure(again), '400 InvalidToken')
    })

    it('answers the same for an address with no account, and mails nothing', async () => {
      const jay = await createUser(pds)
      const nobody = `nobody-${jay.email}`
      const known = await xrpc(pds, 'com.atproto.server.requestPasswordReset', { body: { email: jay.email } })
      const unknown = await xrpc(pds, 'com.atproto.server.requestPasswordReset', { body: { email: nobody } })
      assert.deepEqual([unknown.status, unknown.body], [known.status, known.body])
      assert.equal(known.status, 200)
      await pds.ctx.selfService.idle()
      await mailTo(jay.email, 'Password Reset Requested')
      assert.deepEqual(smtp.pending(nobody), [])
      assert.deepEqual(codes(jay.did), ['reset_password'])
    })

    it('refuses a wrong, expired or other-purpose code, a bad password and missing fields; nothing changes', async () => {
      const kim = await createUser(pds)
      await pds.agent().com.atproto.server.requestPasswordReset({ email: kim.email })
      const { token } = await mailTo(kim.email, 'Password Reset Requested')
      const confirmation = await mailedCode(kim, 'confirm')
      const hash = account(kim.did)!.password_scrypt

      const reset = (body: Record<string, unknown>) => xrpc(pds, 'com.atproto.server.resetPassword', { body })
      const refusals: [Record<string, unknown>, string][] = [
        [{ token: 'AAAAA-AAAAA', password: 'pw' }, 'InvalidToken'],
        [{ token: confirmation, password: 'pw' }, 'InvalidToken'],
        [{ token, password: '' }, 'InvalidRequest'],
        [{ token, password: 'p'.repeat(257) }, 'InvalidRequest'],
        [{ token }, 'InvalidRequest'],
        [{ password: 'pw' }, 'InvalidRequest'],
      ]
      for (const [body, error] of refusals) {
        const res = await reset(body)
        assert.deepEqual([res.status, res.body.error], [400, error], JSON.stringify(body))
      }
      clockOffset = EMAIL_TOKEN_LIFETIME_MS
      assert.deepEqual((await reset({ token, password: 'pw' })).body.error, 'ExpiredToken')
      clockOffset = 0

      assert.equal(account(kim.did)!.password_scrypt, hash, 'password unchanged')
      assert.deepEqual(codes(kim.did), ['confirm_email', 'reset_password'])
      assert.equal((await api(kim).getSession()).data.did, kim.did, 'session alive')
    })
  })

  describe('deleteAccount', () => {
    it('deletes with password and code: repo gone, #account deleted on the firehose, data and sessions gone, handle free', async () => {
      const lea = await createUser(pds)
      const up = await lea.agent.com.atproto.repo.uploadBlob(Buffer.from('not really a png'), { encoding: 'image/png' })
      await lea.agent.com.atproto.repo.createRecord({
        repo: lea.did,
        collection: 'app.bsky.feed.post',
        record: {
          $type: 'app.bsky.feed.post',
          text: 'bye',
          createdAt: new Date().toISOString(),
          embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: up.data.blob }] },
        },
      })
      await lea.agent.app.bsky.actor.putPreferences({
        preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }],
      })
      const blobDir = path.join(pds.dataDir, 'blobs', lea.did)
      assert.ok(existsSync(blobDir))
      const firehose = await FirehoseClient.connect(pds)
      try {
        const token = await mailedCode(lea, 'delete')
        await pds.agent().com.atproto.server.deleteAccount({ did: lea.did, password: lea.password, token })

        await firehose.until(
          () =>
            firehose.events.some(
              (f) => f.header.t === '#account' && f.body.did === lea.did && f.body.active === false && f.body.status === 'deleted',
            ),
          '#account deleted',
        )
      } finally {
        firehose.close()
      }
      const repo = await xrpc(pds, 'com.atproto.sync.getRepo', { query: { did: lea.did } })
      assert.deepEqual([repo.status, repo.body.error], [400, 'RepoNotFound'])
      const rows = (table: string) => pds.db.prepare(`SELECT count(*) FROM ${table} WHERE did = ?`).pluck().get(lea.did)
      for (const table of ['account', 'session', 'repo_root', 'repo_block', 'record', 'blob', 'preference', 'email_token']) {
        assert.equal(rows(table), 0, table)
      }
      assert.ok(!existsSync(blobDir), 'blob bytes removed')
      const session = await xrpc(pds, 'com.atproto.server.getSession', { headers: bearer(lea.agent.session!.accessJwt) })
      assert.equal(session.status, 400)
      const resolved = await xrpc(pds, 'com.atproto.identity.resolveHandle', { query: { handle: lea.handle } })
      assert.equal(resolved.status, 400, 'the handle no longer resolves')
      const again = await pds.agent().createAccount({ handle: lea.handle, email: `again-${lea.email}`, password: 'pw' })
      assert.notEqual(again.data.did, lea.did, 'the handle is free for a new account')
    })

    it('refuses a wrong password, app password or code, another account, missing fields: nothing is deleted', async () => {
      const max = await createUser(pds)
      const ned = await createUser(pds)
      const { data: appPassword } = await api(max).createAppPassword({ name: 'phone' })
      const token = await mailedCode(max, 'delete')
      const confirmation = await mailedCode(max, 'confirm')
      const neds = await mailedCode(ned, 'delete')
      const seq = pds.ctx.sequencer.latestSeq()

      const del = (body: Record<string, unknown>) => xrpc(pds, 'com.atproto.server.deleteAccount', { body })
      const refusals: [Record<string, unknown>, string][] = [
        [{ did: max.did, password: 'wrong', token }, '401 AuthenticationRequired'],
        [{ did: max.did, password: appPassword.password, token }, '401 AuthenticationRequired'],
        [{ did: max.did, password: max.password, token: 'AAAAA-AAAAA' }, '400 InvalidToken'],
        [{ did: max.did, password: max.password, token: confirmation }, '400 InvalidToken'],
        [{ did: max.did, password: max.password, token: neds }, '400 InvalidToken'],
        [{ did: ned.did, password: max.password, token: neds }, '401 AuthenticationRequired'],
        [{ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', password: max.password, token }, '400 InvalidRequest'],
        [{ did: 'not a did', password: max.password, token }, '400 InvalidRequest'],
        [{ did: max.did, password: max.password }, '400 InvalidRequest'],
        [{ did: max.did, token }, '400 InvalidRequest'],
      ]
      for (const [body, expected] of refusals) {
        const res = await del(body)
        assert.equal(`${res.status} ${res.body.error}`, expected, JSON.stringify(body))
      }
      clockOffset = EMAIL_TOKEN_LIFETIME_MS
      const expired = await del({ did: max.did, password: max.password, token })
      assert.equal(expired.body.error, 'ExpiredToken')
      clockOffset = 0

      for (const user of [max, ned]) {
        assert.ok(account(user.did), 'account kept')
        assert.equal((await xrpc(pds, 'com.atproto.sync.getLatestCommit', { query: { did: user.did } })).status, 200)
        assert.equal((await user.agent.com.atproto.server.getSession()).data.did, user.did, 'session alive')
      }
      assert.equal(pds.ctx.sequencer.latestSeq(), seq, 'nothing sequenced')
      assert.deepEqual(codes(max.did), ['confirm_email', 'delete_account'])
    })
  })

  describe('when mail cannot be sent', () => {
    it('a logged-in request answers 500 and the error is logged; a password reset still answers 200 and logs it', async () => {
      const handle = uniqueHandle('bounce')
      const email = `${handle.split('.')[0]}@example.com`
      const agent = pds.agent()
      await agent.createAccount({ handle, email, password: 'pw' })

      assert.equal(await failure(agent.com.atproto.server.requestEmailConfirmation()), '500 InternalServerError')
      const reset = await xrpc(pds, 'com.atproto.server.requestPasswordReset', { body: { email } })
      assert.equal(reset.status, 200)
      await pds.ctx.selfService.idle()
      const failed = lines.find((l) => l.msg === 'password reset mail failed')
      assert.ok(failed, 'logged')
      assert.equal(failed.level, 50)
      assert.ok(
        lines.some((l) => l.level === 50 && l.path === '/xrpc/com.atproto.server.requestEmailConfirmation'),
        'the 500 is logged at error',
      )
    })
  })
})

describe('without SMTP', () => {
  let plc: TestPlc
  let pds: TestPds
  const lines: LogLine[] = []

  before(async () => {
    plc = await startPlc()
    pds = await startPds({ plcUrl: plc.url, log: capturingLogger(lines) })
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  it('says so at startup, writes each token to the log at info, and the logged token completes the flow', async () => {
    assert.ok(lines.some((l) => l.level === 30 && /no SMTP server configured/.test(l.msg)), 'startup line')
    const user = await createUser(pds)
    await user.agent.com.atproto.server.requestEmailConfirmation()
    const line = lines.find((l) => l.mail === 'confirm_email' && l.to === user.email)
    assert.ok(line, 'the mail is logged')
    assert.equal(line.level, 30)
    assert.equal(line.subject, 'Email Confirmation')
    await user.agent.com.atproto.server.confirmEmail({ email: user.email, token: line.token })
    assert.equal((await user.agent.com.atproto.server.getSession()).data.emailConfirmed, true)
  })
})

describe('mail configuration', () => {
  const cfg = (env: Record<string, string>) => parseConfig({ PDS_DATA_DIRECTORY: '/nonexistent-aurora-test', ...env })
  const both = { PDS_EMAIL_SMTP_URL: 'smtps://user:p%40ss@smtp.example.com', PDS_EMAIL_FROM_ADDRESS: 'noreply@example.com' }

  it('takes an smtp:// or smtps:// URL and a From address, both or neither', () => {
    assert.equal(cfg({}).email, null)
    assert.deepEqual(cfg(both).email, { smtpUrl: both.PDS_EMAIL_SMTP_URL, fromAddress: 'noreply@example.com' })
    assert.equal(cfg({ ...both, PDS_EMAIL_FROM_ADDRESS: 'Aurora <noreply@example.com>' }).email?.fromAddress, 'Aurora <noreply@example.com>')
    for (const [env, variable] of [
      [{ PDS_EMAIL_SMTP_URL: both.PDS_EMAIL_SMTP_URL }, 'PDS_EMAIL_FROM_ADDRESS'],
      [{ PDS_EMAIL_FROM_ADDRESS: both.PDS_EMAIL_FROM_ADDRESS }, 'PDS_EMAIL_SMTP_URL'],
      [{ ...both, PDS_EMAIL_SMTP_URL: 'https://smtp.example.com' }, 'PDS_EMAIL_SMTP_URL'],
      [{ ...both, PDS_EMAIL_FROM_ADDRESS: 'nobody' }, 'PDS_EMAIL_FROM_ADDRESS'],
    ] as const) {
      assert.throws(
        () => cfg(env),
        (err: Error) => err instanceof ConfigError && err.message.startsWith(`${variable}: `) && !err.message.includes('p%40ss'),
        JSON.stringify(env),
      )
    }
  })

  it('warns at startup outside dev mode when there is no SMTP server, and names the server without its password', () => {
    const lines: LogLine[] = []
    Mailer.create({ email: null, devMode: false, hostname: 'pds.example.com' }, capturingLogger(lines))
    assert.equal(lines.length, 1)
    assert.equal(lines[0].level, 40)
    assert.match(lines[0].msg, /PDS_EMAIL_SMTP_URL/)
    Mailer.create(
      { email: { smtpUrl: both.PDS_EMAIL_SMTP_URL, fromAddress: 'noreply@example.com' }, devMode: false, hostname: 'x' },
      capturingLogger(lines),
    )
    assert.equal(lines[1].level, 30)
    assert.equal(lines[1].smtp, 'smtps://smtp.example.com')
    assert.ok(!JSON.stringify(lines[1]).includes('p%40ss'))
  })
})
