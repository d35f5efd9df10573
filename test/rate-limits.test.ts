// XRPC rate limits like the reference PDS's: logins per identifier and IP and per IP, signups per IP, repo write points
// and blob uploads per account, wrong admin passwords per IP, and a global per-IP limit over all XRPC requests, each a
// 429 RateLimitExceeded with the RateLimit-* headers; IPv6 counted per /64; all of it off with one switch. Each case
// runs a real server with small limits set through the environment, and speaks for several clients through
// X-Forwarded-For from a trusted loopback proxy. (Crawler limits: test/ratelimit.test.ts.)
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { TID } from '@atproto/common-web'
import { ConfigError, parseConfig } from '../src/config/index.ts'
import { ipKey } from '../src/ratelimit/index.ts'
import { createUser, startPds, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aurora-rate-limits-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const cfgFor = (env: Record<string, string>) => parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'data'), ...env })

const from = (ip: string) => ({ 'x-forwarded-for': ip })
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const basic = (password: string) => ({ authorization: 'Basic ' + Buffer.from(`admin:${password}`).toString('base64') })
const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })

type Res = Awaited<ReturnType<typeof xrpc>>

/** A 429 RateLimitExceeded from the limit with this policy, with the reference's headers and ours. */
function assertLimited(res: Res, policy: string, what: string): void {
  assert.equal(res.status, 429, `${what}: ${res.status} ${JSON.stringify(res.body)}`)
  assert.deepEqual(res.body, { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' }, what)
  const [limit, window] = policy.split(';w=').map(Number)
  assert.equal(res.headers.get('ratelimit-policy'), policy, what)
  assert.equal(res.headers.get('ratelimit-limit'), String(limit), what)
  assert.equal(res.headers.get('ratelimit-remaining'), '0', what)
  const now = Math.floor(Date.now() / 1000)
  const reset = Number(res.headers.get('ratelimit-reset'))
  assert.ok(reset >= now - 1 && reset <= now + window, `${what}: RateLimit-Reset ${reset} is an epoch second in the window`)
  const retryAfter = Number(res.headers.get('retry-after'))
  assert.ok(retryAfter >= 1 && retryAfter <= window, `${what}: Retry-After ${retryAfter}`)
  assert.match(res.headers.get('access-control-expose-headers') ?? '', /RateLimit-Remaining/, what)
}

/** A counted, allowed request: its status, and the tightest window's policy and remaining points in the headers. */
function assertCounted(res: Res, status: number, policy: string, remaining: number, what: string): void {
  assert.equal(res.status, status, `${what}: ${res.status} ${JSON.stringify(res.body)}`)
  assert.equal(res.headers.get('ratelimit-policy'), policy, what)
  assert.equal(res.headers.get('ratelimit-remaining'), String(remaining), what)
}

describe('rate limit configuration', () => {
  it('defaults to the reference PDS numbers, on outside dev mode', () => {
    assert.equal(cfgFor({}).rateLimits.enabled, false, 'dev mode: off')
    const { enabled, limits } = cfgFor({ PDS_DEV_MODE: 'false' }).rateLimits
    assert.equal(enabled, true)
    const m = 60
    const h = 3600
    const d = 86400
    assert.deepEqual(limits, {
      global: [{ points: 3000, seconds: 5 * m }],
      login: [{ points: 30, seconds: 5 * m }, { points: 300, seconds: d }],
      loginIp: [{ points: 300, seconds: 5 * m }, { points: 3000, seconds: d }],
      createAccount: [{ points: 100, seconds: 5 * m }],
      repoWrite: [{ points: 5000, seconds: h }, { points: 35000, seconds: d }],
      blobUpload: [{ points: 1000, seconds: d }],
      adminAuthFailure: [{ points: 10, seconds: 5 * m }, { points: 100, seconds: d }],
      passwordResetRequest: [{ points: 15, seconds: h }, { points: 50, seconds: d }],
      passwordReset: [{ points: 50, seconds: 5 * m }],
      emailRequest: [{ points: 5, seconds: h }, { points: 15, seconds: d }],
      accountDelete: [{ points: 50, seconds: 5 * m }],
      handleUpdate: [{ points: 10, seconds: 5 * m }, { points: 50, seconds: d }],
      identityLookup: [{ points: 100, seconds: 5 * m }, { points: 1000, seconds: d }],
    })
  })

  it('takes each window from its variable; 0 drops a window; the master switch parses as a boolean', () => {
    const cfg = cfgFor({
      PDS_RATE_LIMITS_ENABLED: 'false',
      PDS_RATE_LIMIT_LOGIN_PER_5_MINUTES: '0',
      PDS_RATE_LIMIT_LOGIN_PER_DAY: '7',
      PDS_RATE_LIMIT_GLOBAL_PER_5_MINUTES: '0',
      PDS_RATE_LIMIT_REPO_WRITE_POINTS_PER_HOUR: '12',
    })
    assert.equal(cfg.rateLimits.enabled, false)
    assert.deepEqual(cfg.rateLimits.limits.login, [{ points: 7, seconds: 86400 }])
    assert.deepEqual(cfg.rateLimits.limits.global, [])
    assert.deepEqual(cfg.rateLimits.limits.repoWrite, [{ points: 12, seconds: 3600 }, { points: 35000, seconds: 86400 }])
  })

  for (const [name, value] of [
    ['PDS_RATE_LIMITS_ENABLED', 'sometimes'],
    ['PDS_RATE_LIMIT_LOGIN_PER_5_MINUTES', '-1'],
    ['PDS_RATE_LIMIT_BLOB_UPLOADS_PER_DAY', 'many'],
    ['PDS_RATE_LIMIT_ADMIN_AUTH_FAILURES_PER_DAY', '2.5'],
  ] as const) {
    it(`names the variable for a bad ${name}=${value}`, () => {
      assert.throws(
        () => cfgFor({ [name]: value }),
        (err: Error) => err instanceof ConfigError && err.message.startsWith(`${name}: `),
      )
    })
  }
})

describe('per-IP keys', () => {
  it('keeps IPv4 addresses and folds IPv6 to its /64, however it is written', () => {
    assert.equal(ipKey('203.0.113.9'), '203.0.113.9')
    assert.equal(ipKey('2001:db8:1:2::a'), '2001:db8:1:2::/64')
    assert.equal(ipKey('2001:DB8:0001:0002:ffff:0:0:b'), '2001:db8:1:2::/64')
    assert.equal(ipKey('2001:db8::1:2:3:4'), '2001:db8:0:0::/64')
    assert.equal(ipKey('2001:db8:1:2:3:4::'), '2001:db8:1:2::/64')
    assert.equal(ipKey('::1'), '0:0:0:0::/64')
    assert.equal(ipKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
    assert.equal(ipKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64')
    assert.notEqual(ipKey('2001:db8:1:2::a'), ipKey('2001:db8:1:3::a'))
    assert.equal(ipKey('unknown'), 'unknown')
  })
})

describe('rate limits over HTTP', () => {
  let plc: TestPlc
  before(async () => {
    plc = await startPlc()
  })
  after(async () => {
    await plc.close()
  })

  /** A server with the limits on, these windows, and X-Forwarded-For trusted from loopback (the test's "proxy"). */
  async function server(env: Record<string, string>, run: (pds: TestPds) => Promise<void>): Promise<void> {
    const pds = await startPds({
      plcUrl: plc.url,
      env: { PDS_RATE_LIMITS_ENABLED: 'true', PDS_TRUST_PROXY: 'loopback', ...env },
    })
    try {
      await run(pds)
    } finally {
      await pds.destroy()
    }
  }

  const login = (pds: TestPds, ip: string, identifier: string, password: string) =>
    xrpc(pds, 'com.atproto.server.createSession', { body: { identifier, password }, headers: from(ip) })

  it('logins: counted per identifier and IP, then per IP; over either, even the right password gets 429', async () => {
    await server(
      {
        PDS_RATE_LIMIT_LOGIN_PER_5_MINUTES: '3',
        PDS_RATE_LIMIT_LOGIN_IP_PER_5_MINUTES: '5',
      },
      async (pds) => {
        const alice = await createUser(pds)
        const bob = await createUser(pds)
        const guesser = '203.0.113.10'
        for (let i = 0; i < 3; i++) {
          const wrong = await login(pds, guesser, alice.handle, `guess ${i}`)
          assertCounted(wrong, 401, '3;w=300', 2 - i, `wrong password ${i + 1}`)
        }
        assertLimited(await login(pds, guesser, alice.handle, alice.password), '3;w=300', 'the right password, over the limit')
        // The handle, the email, the DID and other spellings are the same account.
        for (const identifier of [alice.email, alice.did, ` ${alice.handle.toUpperCase()} `]) {
          assertLimited(await login(pds, guesser, identifier, alice.password), '3;w=300', identifier)
        }
        // The account itself is not locked: its owner, elsewhere, logs in.
        assert.equal((await login(pds, '198.51.100.20', alice.handle, alice.password)).status, 200)

        // Another account from the guesser's address works until the per-IP limit: 3 attempts spent, 2 left
        // (refused attempts cost nothing).
        assertCounted(await login(pds, guesser, bob.handle, bob.password), 200, '5;w=300', 1, 'bob 1')
        assertCounted(await login(pds, guesser, bob.handle, bob.password), 200, '5;w=300', 0, 'bob 2')
        assertLimited(await login(pds, guesser, bob.handle, bob.password), '5;w=300', 'bob 3, over the per-IP limit')
      },
    )
  })

  it('createAccount: counted per IP; over it, 429 and no account', async () => {
    await server({ PDS_RATE_LIMIT_CREATE_ACCOUNT_PER_5_MINUTES: '2' }, async (pds) => {
      const signup = (ip: string, handle = uniqueHandle('signup')) =>
        xrpc(pds, 'com.atproto.server.createAccount', {
          body: { handle, email: `${handle.split('.')[0]}@example.com`, password: 'a password' },
          headers: from(ip),
        })
      assertCounted(await signup('203.0.113.20'), 200, '2;w=300', 1, 'first signup')
      assertCounted(await signup('203.0.113.20'), 200, '2;w=300', 0, 'second signup')
      const before = pds.ctx.accounts.store.count()
      const handle = uniqueHandle('refused')
      assertLimited(await signup('203.0.113.20', handle), '2;w=300', 'third signup')
      assert.equal(pds.ctx.accounts.store.count(), before, 'no account was created')
      assert.equal(pds.ctx.accounts.store.byHandle(handle), undefined)
      assert.equal((await signup('203.0.113.21')).status, 200, 'another IP signs up')
    })
  })

  it('repo writes: points per account (create 3, update 2, delete 1) counted before anything is written', async () => {
    await server(
      { PDS_RATE_LIMIT_REPO_WRITE_POINTS_PER_HOUR: '10', PDS_RATE_LIMIT_REPO_WRITE_POINTS_PER_DAY: '100' },
      async (pds) => {
        const alice = await createUser(pds)
        const token = alice.agent.session!.accessJwt
        const creates = (n: number) =>
          Array.from({ length: n }, (_, i) => ({
            $type: 'com.atproto.repo.applyWrites#create',
            collection: 'app.bsky.feed.post',
            value: post(`batch ${i}`),
          }))
        const batch = await xrpc(pds, 'com.atproto.repo.applyWrites', {
          body: { repo: alice.did, writes: creates(3) },
          headers: bearer(token),
        })
        assertCounted(batch, 200, '10;w=3600', 1, 'applyWrites of 3 creates: 9 points')

        const rev = pds.ctx.repo.root(alice.did)!.rev
        const tooMuch = await xrpc(pds, 'com.atproto.repo.createRecord', {
          body: { repo: alice.did, collection: 'app.bsky.feed.post', record: post('one too many') },
          headers: bearer(token),
        })
        assertLimited(tooMuch, '10;w=3600', 'a create (3 points) with 1 left')
        const tooBig = await xrpc(pds, 'com.atproto.repo.applyWrites', {
          body: { repo: alice.did, writes: creates(2) },
          headers: bearer(token),
        })
        assertLimited(tooBig, '10;w=3600', 'a batch of 2 creates (6 points) with 1 left')
        assert.equal(pds.ctx.repo.root(alice.did)!.rev, rev, 'nothing was committed')
        const listed = await xrpc(pds, 'com.atproto.repo.listRecords', { query: { repo: alice.did, collection: 'app.bsky.feed.post' } })
        assert.equal(listed.body.records.length, 3)

        // The refusals cost nothing: the last point still buys a delete, and then nothing does.
        const rkey = (uri: string) => uri.split('/').pop()!
        const del = (n: number) =>
          xrpc(pds, 'com.atproto.repo.deleteRecord', {
            body: { repo: alice.did, collection: 'app.bsky.feed.post', rkey: rkey(batch.body.results[n].uri) },
            headers: bearer(token),
          })
        assertCounted(await del(0), 200, '10;w=3600', 0, 'a delete (1 point)')
        assertLimited(await del(1), '10;w=3600', 'a delete with nothing left')

        // Another account has its own budget; putRecord is 2 points, a mixed batch 3 + 2 + 1.
        const bob = await createUser(pds)
        const bobToken = bob.agent.session!.accessJwt
        const [p1, p2] = [TID.nextStr(), TID.nextStr()]
        const put = await xrpc(pds, 'com.atproto.repo.putRecord', {
          body: { repo: bob.did, collection: 'app.bsky.feed.post', rkey: p1, record: post('put') },
          headers: bearer(bobToken),
        })
        assertCounted(put, 200, '10;w=3600', 8, 'putRecord: 2 points')
        const mixed = await xrpc(pds, 'com.atproto.repo.applyWrites', {
          body: {
            repo: bob.did,
            writes: [
              { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', rkey: p2, value: post('c') },
              { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.feed.post', rkey: p1, value: post('u') },
              { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: p2 },
            ],
          },
          headers: bearer(bobToken),
        })
        assertCounted(mixed, 200, '10;w=3600', 2, 'create + update + delete: 6 points')
      },
    )
  })

  it('uploadBlob: counted per account; over it, 429', async () => {
    await server({ PDS_RATE_LIMIT_BLOB_UPLOADS_PER_DAY: '2' }, async (pds) => {
      const upload = (token: string, i: number) =>
        xrpc(pds, 'com.atproto.repo.uploadBlob', {
          rawBody: `blob number ${i}`,
          headers: { ...bearer(token), 'content-type': 'text/plain' },
        })
      const alice = await createUser(pds)
      const token = alice.agent.session!.accessJwt
      assertCounted(await upload(token, 1), 200, '2;w=86400', 1, 'upload 1')
      assertCounted(await upload(token, 2), 200, '2;w=86400', 0, 'upload 2')
      assertLimited(await upload(token, 3), '2;w=86400', 'upload 3')
      const bob = await createUser(pds)
      assertCounted(await upload(bob.agent.session!.accessJwt, 4), 200, '2;w=86400', 1, "another account's upload")
    })
  })

  it('admin auth: wrong passwords counted per IP; over the limit even the right one gets 429', async () => {
    await server({ PDS_RATE_LIMIT_ADMIN_AUTH_FAILURES_PER_5_MINUTES: '3' }, async (pds) => {
      const password = pds.ctx.cfg.secrets.adminPassword
      const invite = (ip: string, pw: string) =>
        xrpc(pds, 'com.atproto.server.createInviteCode', { body: { useCount: 1 }, headers: { ...basic(pw), ...from(ip) } })
      assert.equal((await invite('203.0.113.30', password)).status, 200, 'the right password is not counted')
      for (let i = 0; i < 3; i++) {
        const wrong = await invite('203.0.113.30', `guess ${i}`)
        assert.equal(wrong.status, 401, `guess ${i}`)
        assert.equal(wrong.body.error, 'AuthenticationRequired')
      }
      assertLimited(await invite('203.0.113.30', password), '3;w=300', 'the right password, over the limit')
      assertLimited(await invite('203.0.113.30', 'guess 4'), '3;w=300', 'a wrong one, over the limit')
      assert.equal((await invite('198.51.100.30', password)).status, 200, 'the operator from elsewhere')

      // Guesses through the public sync reads (credentials optional there) count too.
      const alice = await createUser(pds)
      for (let i = 0; i < 3; i++) {
        const read = await xrpc(pds, 'com.atproto.sync.getLatestCommit', {
          query: { did: alice.did },
          headers: { ...basic(`guess ${i}`), ...from('203.0.113.31') },
        })
        assert.equal(read.status, 200, 'a public read is still served')
      }
      assertLimited(await invite('203.0.113.31', password), '3;w=300', 'after guesses through sync reads')
    })
  })

  it('self-service: reset requests per IP, mail requests per account and method, deleteAccount on the login budget', async () => {
    await server(
      {
        PDS_RATE_LIMIT_PASSWORD_RESET_REQUESTS_PER_HOUR: '2',
        PDS_RATE_LIMIT_EMAIL_REQUESTS_PER_HOUR: '1',
        PDS_RATE_LIMIT_LOGIN_PER_5_MINUTES: '2',
      },
      async (pds) => {
        const alice = await createUser(pds)
        const reset = (ip: string) =>
          xrpc(pds, 'com.atproto.server.requestPasswordReset', { body: { email: alice.email }, headers: from(ip) })
        assertCounted(await reset('203.0.113.40'), 200, '2;w=3600', 1, 'first reset request')
        assertCounted(await reset('203.0.113.40'), 200, '2;w=3600', 0, 'second reset request')
        assertLimited(await reset('203.0.113.40'), '2;w=3600', 'third reset request')
        assert.equal((await reset('203.0.113.41')).status, 200, 'another IP asks')

        const mail = (nsid: string) =>
          xrpc(pds, nsid, { method: 'POST', headers: { ...bearer(alice.agent.session!.accessJwt), ...from('203.0.113.42') } })
        const confirm = 'com.atproto.server.requestEmailConfirmation'
        assertCounted(await mail(confirm), 200, '1;w=3600', 0, 'first confirmation mail')
        assertLimited(await mail(confirm), '1;w=3600', 'second confirmation mail')
        assertCounted(await mail('com.atproto.server.requestAccountDelete'), 200, '1;w=3600', 0, 'another method, own budget')

        // deleteAccount checks the password: guesses there spend what logins to the account from that IP may spend.
        const guess = (password: string) =>
          xrpc(pds, 'com.atproto.server.deleteAccount', {
            body: { did: alice.did, password, token: 'AAAAA-AAAAA' },
            headers: from('203.0.113.43'),
          })
        assertCounted(await guess('guess 1'), 401, '2;w=300', 1, 'first guess')
        assertCounted(await guess('guess 2'), 401, '2;w=300', 0, 'second guess')
        assertLimited(await login(pds, '203.0.113.43', alice.did, alice.password), '2;w=300', 'a login after the guesses')
        assert.ok(pds.ctx.accounts.store.byDid(alice.did))
      },
    )
  })

  it('identity lookups: resolveDid, resolveIdentity and refreshIdentity share one budget per account', async () => {
    await server({ PDS_RATE_LIMIT_IDENTITY_LOOKUPS_PER_5_MINUTES: '2' }, async (pds) => {
      const [alice, bob] = [await createUser(pds), await createUser(pds)]
      const lookup = (user: typeof alice, nsid: string) =>
        xrpc(pds, nsid, {
          ...(nsid.endsWith('refreshIdentity') ? { body: { identifier: user.did } } : { query: nsid.endsWith('resolveDid') ? { did: user.did } : { identifier: user.did } }),
          headers: { ...bearer(user.agent.session!.accessJwt), ...from('203.0.113.50') },
        })
      assertCounted(await lookup(alice, 'com.atproto.identity.resolveDid'), 200, '2;w=300', 1, 'resolveDid')
      assertCounted(await lookup(alice, 'com.atproto.identity.resolveIdentity'), 200, '2;w=300', 0, 'resolveIdentity')
      assertLimited(await lookup(alice, 'com.atproto.identity.refreshIdentity'), '2;w=300', 'refreshIdentity over the budget')
      assertCounted(await lookup(bob, 'com.atproto.identity.resolveDid'), 200, '2;w=300', 1, 'another account, same IP')
    })
  })

  it('global: every XRPC request but the sync reads, per IP, IPv6 per /64', async () => {
    await server({ PDS_RATE_LIMIT_GLOBAL_PER_5_MINUTES: '4' }, async (pds) => {
      const describe = (ip: string) => xrpc(pds, 'com.atproto.server.describeServer', { headers: from(ip) })
      for (let i = 0; i < 4; i++) assertCounted(await describe('203.0.113.40'), 200, '4;w=300', 3 - i, `request ${i + 1}`)
      assertLimited(await describe('203.0.113.40'), '4;w=300', 'request 5')
      assertLimited(await xrpc(pds, 'com.example.nothing', { headers: from('203.0.113.40') }), '4;w=300', 'an unknown method')
      const sync = await xrpc(pds, 'com.atproto.sync.listRepos', { headers: from('203.0.113.40') })
      assert.equal(sync.status, 200, 'sync reads have their own limit')
      assert.equal(sync.headers.get('ratelimit-policy'), '3000;w=60')
      assert.equal((await describe('203.0.113.41')).status, 200, 'another IP')

      // Two addresses in one /64 share a budget; the next /64 has its own.
      for (const ip of ['2001:db8:1:2::a', '2001:db8:1:2::a', '2001:db8:1:2:ffff::b', '2001:db8:1:2:ffff::b']) {
        assert.equal((await describe(ip)).status, 200, ip)
      }
      assertLimited(await describe('2001:db8:1:2::c'), '4;w=300', 'a third address in the same /64')
      assertCounted(await describe('2001:db8:1:3::a'), 200, '4;w=300', 3, 'the next /64')
    })
  })

  it('the master switch off: no limit counts, no headers', async () => {
    const tiny = {
      PDS_RATE_LIMITS_ENABLED: 'false',
      PDS_RATE_LIMIT_GLOBAL_PER_5_MINUTES: '1',
      PDS_RATE_LIMIT_LOGIN_PER_5_MINUTES: '1',
      PDS_RATE_LIMIT_LOGIN_IP_PER_5_MINUTES: '1',
      PDS_RATE_LIMIT_CREATE_ACCOUNT_PER_5_MINUTES: '1',
      PDS_RATE_LIMIT_REPO_WRITE_POINTS_PER_HOUR: '1',
      PDS_RATE_LIMIT_BLOB_UPLOADS_PER_DAY: '1',
      PDS_RATE_LIMIT_ADMIN_AUTH_FAILURES_PER_5_MINUTES: '1',
      PDS_RATE_LIMIT_SYNC_PER_MINUTE: '1',
    }
    await server(tiny, async (pds) => {
      const ip = '203.0.113.50'
      const alice = await createUser(pds)
      await createUser(pds)
      const responses: Res[] = []
      for (let i = 0; i < 3; i++) responses.push(await login(pds, ip, alice.handle, 'wrong'))
      responses.push(await login(pds, ip, alice.handle, alice.password))
      const token = alice.agent.session!.accessJwt
      for (let i = 0; i < 2; i++) {
        responses.push(
          await xrpc(pds, 'com.atproto.repo.createRecord', {
            body: { repo: alice.did, collection: 'app.bsky.feed.post', record: post(`p${i}`) },
            headers: { ...bearer(token), ...from(ip) },
          }),
          await xrpc(pds, 'com.atproto.repo.uploadBlob', {
            rawBody: `b${i}`,
            headers: { ...bearer(token), 'content-type': 'text/plain', ...from(ip) },
          }),
          await xrpc(pds, 'com.atproto.sync.listRepos', { headers: from(ip) }),
        )
      }
      for (let i = 0; i < 2; i++) responses.push(await xrpc(pds, 'com.atproto.server.createInviteCode', { body: { useCount: 1 }, headers: { ...basic('wrong'), ...from(ip) } }))
      responses.push(await xrpc(pds, 'com.atproto.server.createInviteCode', { body: { useCount: 1 }, headers: { authorization: pds.adminAuth, ...from(ip) } }))
      assert.deepEqual(
        responses.map((r) => r.status),
        [401, 401, 401, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200],
      )
      for (const r of responses) assert.equal(r.headers.get('ratelimit-limit'), null)
    })
  })

  it('0 turns one limit off and leaves the others', async () => {
    await server(
      { PDS_RATE_LIMIT_LOGIN_PER_5_MINUTES: '0', PDS_RATE_LIMIT_LOGIN_PER_DAY: '0', PDS_RATE_LIMIT_LOGIN_IP_PER_5_MINUTES: '0', PDS_RATE_LIMIT_LOGIN_IP_PER_DAY: '0', PDS_RATE_LIMIT_GLOBAL_PER_5_MINUTES: '8' },
      async (pds) => {
        const alice = await createUser(pds)
        const statuses: number[] = []
        for (let i = 0; i < 8; i++) {
          const res = await login(pds, '203.0.113.60', alice.handle, i < 7 ? 'wrong' : alice.password)
          statuses.push(res.status)
          assert.equal(res.headers.get('ratelimit-policy'), '8;w=300', 'only the global limit counts')
        }
        assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 401, 200])
        assertLimited(await login(pds, '203.0.113.60', alice.handle, alice.password), '8;w=300', 'the global limit still holds')
      },
    )
  })
})
