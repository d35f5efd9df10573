// Crawler rate limits: per client IP on the sync reads and on firehose connection attempts, with the reference's
// RateLimit-* headers on a 429 RateLimitExceeded; client IPs from X-Forwarded-For only through trusted proxies.
// Each case runs a real server with its limits set through the environment, so the production wiring is what runs.
import assert from 'node:assert/strict'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { ConfigError, parseConfig, type Config } from '../src/config/index.ts'
import { createRateLimiter } from '../src/ratelimit/index.ts'
import { within } from './helpers/firehose-client.ts'
import { createUser, startPds, xrpc } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'aurora-ratelimit-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const cfgFor = (env: Record<string, string>): Config => parseConfig({ PDS_DATA_DIRECTORY: path.join(tmp, 'data'), ...env })

/** A PDS with these limits, wired exactly as in production (src/server.ts), and one account on it. */
async function frontServer(plcUrl: string, limits: { sync: number; firehose: number; trustProxy: string }) {
  const pds = await startPds({
    plcUrl,
    env: {
      PDS_RATE_LIMITS_ENABLED: 'true',
      PDS_RATE_LIMIT_SYNC_PER_MINUTE: String(limits.sync),
      PDS_RATE_LIMIT_FIREHOSE_CONNECTS_PER_MINUTE: String(limits.firehose),
      PDS_TRUST_PROXY: limits.trustProxy,
    },
  })
  const { did } = await createUser(pds)
  return { url: pds.url, did, close: () => pds.destroy() }
}

/** Open a firehose WebSocket; resolves with 'open' or the refusal's status and headers. */
function connect(url: string, headers: Record<string, string>): Promise<{ open: true; ws: WebSocket } | { open: false; status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`, { headers })
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ open: true, ws }))
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (c) => (body += c))
        res.on('end', () => resolve({ open: false, status: res.statusCode!, headers: res.headers, body }))
      })
      ws.once('error', reject)
    }),
    10_000,
    'the WebSocket handshake',
  )
}

describe('rate limit configuration', () => {
  it('has generous defaults and no proxy trusted', () => {
    const cfg = cfgFor({ PDS_DEV_MODE: 'false' })
    assert.equal(cfg.rateLimits.enabled, true)
    assert.equal(cfg.rateLimits.syncPerMinute, 3000)
    assert.equal(cfg.rateLimits.firehoseConnectsPerMinute, 30)
    assert.equal(cfg.trustProxy, false)
  })

  it('parses PDS_TRUST_PROXY as express does: booleans, hop counts, address/CIDR/name lists', () => {
    assert.equal(cfgFor({ PDS_TRUST_PROXY: 'true' }).trustProxy, true)
    assert.equal(cfgFor({ PDS_TRUST_PROXY: 'false' }).trustProxy, false)
    assert.equal(cfgFor({ PDS_TRUST_PROXY: '2' }).trustProxy, 2)
    assert.deepEqual(cfgFor({ PDS_TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8' }).trustProxy, ['loopback', '10.0.0.0/8', 'fd00::/8'])
    const { syncPerMinute, firehoseConnectsPerMinute } = cfgFor({
      PDS_RATE_LIMIT_SYNC_PER_MINUTE: '0',
      PDS_RATE_LIMIT_FIREHOSE_CONNECTS_PER_MINUTE: '7',
    }).rateLimits
    assert.deepEqual({ syncPerMinute, firehoseConnectsPerMinute }, { syncPerMinute: 0, firehoseConnectsPerMinute: 7 })
  })

  for (const [name, value, pattern] of [
    ['PDS_TRUST_PROXY', 'nginx', /^PDS_TRUST_PROXY: "nginx" is not an IP address, a CIDR range or one of loopback/],
    ['PDS_TRUST_PROXY', '10.0.0.0/33', /^PDS_TRUST_PROXY: "10\.0\.0\.0\/33"/],
    ['PDS_RATE_LIMIT_SYNC_PER_MINUTE', '-1', /^PDS_RATE_LIMIT_SYNC_PER_MINUTE: /],
    ['PDS_RATE_LIMIT_FIREHOSE_CONNECTS_PER_MINUTE', 'lots', /^PDS_RATE_LIMIT_FIREHOSE_CONNECTS_PER_MINUTE: /],
  ] as const) {
    it(`names the variable for a bad ${name}=${value}`, () => {
      assert.throws(() => cfgFor({ [name]: value }), (err: Error) => err instanceof ConfigError && pattern.test(err.message))
    })
  }
})

describe('client IP', () => {
  const req = (remoteAddress: string, xff?: string) =>
    ({ socket: { remoteAddress }, connection: { remoteAddress }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as unknown as http.IncomingMessage
  const ipWith = (trustProxy: Config['trustProxy'], r: http.IncomingMessage) =>
    createRateLimiter({ rateLimits: cfgFor({}).rateLimits, trustProxy }).clientIp(r)

  it('ignores X-Forwarded-For unless the peer is trusted, and walks only trusted hops', () => {
    assert.equal(ipWith(false, req('127.0.0.1', '203.0.113.9')), '127.0.0.1')
    assert.equal(ipWith(['loopback'], req('127.0.0.1', '203.0.113.9')), '203.0.113.9')
    assert.equal(ipWith(['loopback'], req('198.51.100.4', '203.0.113.9')), '198.51.100.4', 'an untrusted peer cannot spoof')
    assert.equal(ipWith(['loopback'], req('127.0.0.1', '203.0.113.9, 10.0.0.5')), '10.0.0.5')
    assert.equal(ipWith(['loopback', 'uniquelocal'], req('127.0.0.1', '203.0.113.9, 10.0.0.5')), '203.0.113.9')
    assert.equal(ipWith(1, req('10.1.1.1', '203.0.113.9, 198.51.100.7')), '198.51.100.7')
    assert.equal(ipWith(2, req('10.1.1.1', '203.0.113.9, 198.51.100.7')), '203.0.113.9')
    assert.equal(ipWith(false, req('::ffff:192.0.2.1')), '192.0.2.1', 'IPv4-mapped addresses fold to IPv4')
  })
})

describe('rate limits over HTTP and WebSocket', () => {
  let plc: TestPlc
  before(async () => {
    plc = await startPlc()
  })
  after(async () => {
    await plc.close()
  })

  it('a crawler over the sync limit gets 429 RateLimitExceeded with the headers; other IPs and routes are unaffected', async () => {
    const front = await frontServer(plc.url, { sync: 5, firehose: 0, trustProxy: 'loopback' })
    try {
      const crawler = { 'x-forwarded-for': '203.0.113.7' }
      for (let i = 0; i < 5; i++) {
        const ok = await xrpc(front, 'com.atproto.sync.getLatestCommit', { query: { did: front.did }, headers: crawler })
        assert.equal(ok.status, 200)
        assert.equal(ok.headers.get('ratelimit-limit'), '5')
        assert.equal(ok.headers.get('ratelimit-remaining'), String(4 - i))
        assert.equal(ok.headers.get('ratelimit-policy'), '5;w=60')
      }
      const before = Math.floor(Date.now() / 1000)
      const limited = await xrpc(front, 'com.atproto.sync.listRepos', { headers: crawler })
      assert.equal(limited.status, 429)
      assert.deepEqual(limited.body, { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' })
      assert.equal(limited.headers.get('ratelimit-limit'), '5')
      assert.equal(limited.headers.get('ratelimit-remaining'), '0')
      assert.equal(limited.headers.get('ratelimit-policy'), '5;w=60')
      const reset = Number(limited.headers.get('ratelimit-reset'))
      assert.ok(reset >= before && reset <= before + 61, `RateLimit-Reset ${reset} is an epoch second within the window`)
      const retryAfter = Number(limited.headers.get('retry-after'))
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`)
      assert.match(limited.headers.get('access-control-expose-headers') ?? '', /RateLimit-Reset/)

      // Express routes /XRPC/ and percent-encoded dots to the same handler: they are counted the same.
      const respelled = await fetch(`${front.url}/XRPC/com%2Eatproto.sync.getLatestCommit?did=${front.did}`, { headers: crawler })
      assert.equal(respelled.status, 429)

      const other = await xrpc(front, 'com.atproto.sync.getLatestCommit', { query: { did: front.did }, headers: { 'x-forwarded-for': '203.0.113.8' } })
      assert.equal(other.status, 200, 'another IP is unaffected')
      assert.equal(other.headers.get('ratelimit-remaining'), '4')
      const nonSync = await xrpc(front, 'com.atproto.server.describeServer', { headers: crawler })
      assert.equal(nonSync.status, 200, 'routes outside com.atproto.sync.* are not counted by the sync limit')
      assert.equal(nonSync.headers.get('ratelimit-policy'), '3000;w=300', 'but by the global one (test/rate-limits.test.ts)')
    } finally {
      await front.close()
    }
  })

  it('without a trusted proxy, X-Forwarded-For cannot dodge the limit', async () => {
    const front = await frontServer(plc.url, { sync: 3, firehose: 0, trustProxy: 'false' })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 4; i++) {
        const r = await xrpc(front, 'com.atproto.sync.getRepoStatus', { query: { did: front.did }, headers: { 'x-forwarded-for': `198.51.100.${i}` } })
        statuses.push(r.status)
      }
      assert.deepEqual(statuses, [200, 200, 200, 429])
    } finally {
      await front.close()
    }
  })

  it('limits firehose connection attempts per IP with the same headers; other IPs still connect', async () => {
    const front = await frontServer(plc.url, { sync: 0, firehose: 2, trustProxy: 'loopback' })
    const open: WebSocket[] = []
    try {
      const relayA = { 'x-forwarded-for': '192.0.2.10' }
      for (let i = 0; i < 2; i++) {
        const c = await connect(front.url, relayA)
        assert.equal(c.open, true)
        if (c.open) open.push(c.ws)
      }
      const refused = await connect(front.url, relayA)
      assert.equal(refused.open, false)
      if (!refused.open) {
        assert.equal(refused.status, 429)
        assert.deepEqual(JSON.parse(refused.body), { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' })
        assert.equal(refused.headers['ratelimit-limit'], '2')
        assert.equal(refused.headers['ratelimit-remaining'], '0')
        assert.equal(refused.headers['ratelimit-policy'], '2;w=60')
        assert.ok(Number(refused.headers['ratelimit-reset']) >= Math.floor(Date.now() / 1000))
        assert.ok(Number(refused.headers['retry-after']) >= 1)
      }
      const relayB = await connect(front.url, { 'x-forwarded-for': '192.0.2.11' })
      assert.equal(relayB.open, true, 'another IP is unaffected')
      if (relayB.open) open.push(relayB.ws)
    } finally {
      for (const ws of open) ws.terminate()
      await front.close()
    }
  })

  it('0 turns a limit off', async () => {
    const front = await frontServer(plc.url, { sync: 0, firehose: 0, trustProxy: 'false' })
    const open: WebSocket[] = []
    try {
      for (let i = 0; i < 12; i++) {
        const r = await xrpc(front, 'com.atproto.sync.getLatestCommit', { query: { did: front.did } })
        assert.equal(r.status, 200)
        assert.equal(r.headers.get('ratelimit-limit'), null)
      }
      for (let i = 0; i < 4; i++) {
        const c = await connect(front.url, {})
        assert.equal(c.open, true)
        if (c.open) open.push(c.ws)
      }
    } finally {
      for (const ws of open) ws.terminate()
      await front.close()
    }
  })
})
