// A server with a real hostname says what it has off: a `warn` line at startup and a red row on the status page for
// federation switched off, a development PLC directory, metrics without a token. And /tls-check, which Caddy's
// on-demand TLS asks before getting a certificate for a handle's name, answered as the reference distribution does.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { parseConfig } from '../src/config/index.ts'
import { startupWarnings } from '../src/status/startup-warnings.ts'
import { PRODUCTION_SECRETS } from './helpers/config.ts'
import { captureLog, type LogCapture } from './helpers/log-capture.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { startPds, xrpc, type TestPds } from './helpers/pds.ts'

const HOSTNAME = 'pds.aurora-warnings.com'
const prod = { PDS_HOSTNAME: HOSTNAME, ...PRODUCTION_SECRETS }

describe('a production hostname with things switched off', () => {
  let plc: TestPlc
  let pds: TestPds
  let capture: LogCapture

  before(async () => {
    plc = await startPlc()
    capture = captureLog('info')
    pds = await startPds({
      plcUrl: plc.url, // a PLC directory on localhost: nobody outside can resolve DIDs made here
      log: capture.log,
      env: { ...prod, PDS_BIND_HOST: '127.0.0.1', PDS_METRICS_ENABLED: 'true' },
    })
  })
  after(async () => {
    await pds?.destroy()
    await plc?.close()
  })

  it('warns at startup, one line each', () => {
    const warned = capture.lines.filter((l) => l.level === 40 && l.warning).map((l) => l.warning)
    assert.deepEqual(warned.sort(), ['dev-plc', 'federation-off', 'metrics-open'])
    const line = capture.lines.find((l) => l.warning === 'federation-off')!
    assert.match(line.msg, /PDS_FEDERATION_ENABLED=true/)
  })

  it('shows each as a red row on the status page', async () => {
    const res = await fetch(pds.url + '/', { headers: { accept: 'text/html' } })
    const html = await res.text()
    const rows = [...html.matchAll(/<tr class="bad" data-warning="([a-z-]+)">/g)].map((m) => m[1])
    assert.deepEqual(rows.sort(), ['dev-plc', 'federation-off', 'metrics-open'])
    assert.match(html, /#warnings tr\.bad \{ background: #fdecea; \}/)
  })

  it('/tls-check: the hostname and active handles only, with the reference answers', async () => {
    const check = async (domain?: string) => {
      const res = await fetch(`${pds.url}/tls-check${domain === undefined ? '' : `?domain=${encodeURIComponent(domain)}`}`)
      return { status: res.status, body: await res.json() }
    }
    const handle = `alice.${HOSTNAME}`
    const { data } = await pds.agent().createAccount({ handle, email: 'alice@example.com', password: 'alice-password' })

    assert.deepEqual(await check(HOSTNAME), { status: 200, body: { success: true } })
    assert.deepEqual(await check(handle), { status: 200, body: { success: true } })
    assert.equal((await check(handle.toUpperCase())).status, 200, 'names are case-insensitive')
    assert.deepEqual(await check(`bob.${HOSTNAME}`), {
      status: 404,
      body: { error: 'NotFound', message: 'handle not found for this domain' },
    })
    assert.deepEqual(await check('example.com'), {
      status: 400,
      body: { error: 'InvalidRequest', message: 'handles are not provided on this domain' },
    })
    assert.deepEqual(await check(), { status: 400, body: { error: 'InvalidRequest', message: 'bad or missing domain query param' } })

    // A deactivated account's handle gets no certificate, as it does not resolve.
    // (Straight to this server: an agent would follow the DID document to https://<hostname>, which is not us here.)
    const deactivated = await xrpc(pds, 'com.atproto.server.deactivateAccount', {
      body: {},
      headers: { authorization: `Bearer ${data.accessJwt}` },
    })
    assert.equal(deactivated.status, 200)
    assert.equal((await check(handle)).status, 404)
  })
})

describe('startup warnings from the configuration', () => {
  it('none for a fully set-up production server, nor on localhost', () => {
    const full = parseConfig({ ...prod, PDS_FEDERATION_ENABLED: 'true', PDS_METRICS_ENABLED: 'true', PDS_METRICS_TOKEN: 'x'.repeat(32) })
    assert.deepEqual(startupWarnings(full), [])
    assert.deepEqual(startupWarnings({ ...full, hostname: 'localhost', federation: { ...full.federation, enabled: false } }), [])
  })

  it('no relays and dev mode', () => {
    const cfg = parseConfig({ ...prod, PDS_FEDERATION_ENABLED: 'true', PDS_FEDERATION_RELAY_URLS: ' ', PDS_DEV_MODE: 'true' })
    assert.deepEqual(startupWarnings(cfg).map((w) => w.id), ['no-relays', 'dev-mode'])
  })
})
