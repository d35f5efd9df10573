// The shipped Caddyfile, run by Debian's Caddy in front of a real server: on-demand TLS asks the PDS's /tls-check
// before it gets a certificate for a name, so a handle of an account here gets one on its first visit and a name
// nobody holds gets none; the API and the firehose WebSocket pass through. Caddy's own local CA stands in for Let's
// Encrypt (`local_certs`): the only change to the file besides addresses and ports.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { decodeFrame } from '../src/protocol/frames.ts'
import { PRODUCTION_SECRETS } from './helpers/config.ts'
import { within } from './helpers/firehose-client.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { freePort, startPds, type TestPds } from './helpers/pds.ts'
import { CADDY, requireProgram, skipWithout } from './helpers/system.ts'

const REPO_CADDYFILE = path.resolve(import.meta.dirname, '../Caddyfile')
const HOSTNAME = 'pds.aurora-caddy.com'

describe('deployment behind Caddy (the shipped Caddyfile)', { skip: skipWithout(CADDY) }, () => {
  let plc: TestPlc
  let pds: TestPds
  let caddy: ChildProcess | undefined
  let dir: string
  let httpsPort: number

  before(async () => {
    const caddyBin = requireProgram(CADDY)
    plc = await startPlc()
    pds = await startPds({
      plcUrl: plc.url,
      env: {
        PDS_HOSTNAME: HOSTNAME,
        PDS_BIND_HOST: '127.0.0.1',
        ...PRODUCTION_SECRETS,
      },
    })
    dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-caddy-'))
    httpsPort = await freePort()
    const httpPort = await freePort()
    const original = readFileSync(REPO_CADDYFILE, 'utf8')
    const file = original
      .replace('{\n', `{\n\tlocal_certs\n\tskip_install_trust\n\tadmin off\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n`)
      .replaceAll('localhost:3000', `127.0.0.1:${new URL(pds.url).port}`)
      .replaceAll('pds.example.com', HOSTNAME)
    assert.notEqual(file, original)
    writeFileSync(path.join(dir, 'Caddyfile'), file)
    caddy = spawn(caddyBin, ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    // Caddy logs JSON lines to stderr; this one comes once it listens.
    const ready = new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: caddy!.stderr! }).on('line', (line) => {
        if (line.includes('serving initial configuration')) resolve()
      })
      caddy!.once('exit', (code) => reject(new Error(`caddy exited with ${code}`)))
    })
    await within(ready, 20_000, 'Caddy to serve its configuration')
  })
  after(async () => {
    if (caddy && caddy.exitCode === null) {
      const exited = once(caddy, 'exit')
      caddy.kill('SIGTERM')
      await exited
    }
    await pds?.destroy()
    await plc?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** GET over TLS to Caddy with `name` as SNI and Host, trusting Caddy's local CA. */
  function get(name: string, urlPath: string): Promise<{ status: number; body: string }> {
    const ca = readFileSync(path.join(dir, 'data/caddy/pki/authorities/local/root.crt'))
    return new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: httpsPort, servername: name, path: urlPath, headers: { host: name }, ca }, (res) => {
          let body = ''
          res.on('data', (c) => (body += c))
          res.on('end', () => resolve({ status: res.statusCode!, body }))
        })
        .on('error', reject)
    })
  }

  it('gets a certificate for the hostname and an active handle, none for a name nobody holds', async () => {
    const handle = `alice.${HOSTNAME}`
    const { data } = await pds.agent().createAccount({ handle, email: 'alice@example.com', password: 'alice-password' })

    const health = await get(HOSTNAME, '/xrpc/_health')
    assert.equal(health.status, 200)
    assert.equal(JSON.parse(health.body).version, pds.ctx.version)
    assert.deepEqual(await get(handle, '/.well-known/atproto-did'), { status: 200, body: data.did })
    // /tls-check said 404: no certificate, so no TLS handshake.
    await assert.rejects(get(`bob.${HOSTNAME}`, '/.well-known/atproto-did'))
    assert.equal((await get(HOSTNAME, '/metrics')).status, 404, '/metrics stays inside')
  })

  it('carries the firehose WebSocket', async () => {
    const ca = readFileSync(path.join(dir, 'data/caddy/pki/authorities/local/root.crt'))
    // ws hands its options on to https.request, which takes the TLS server name (SNI) too.
    const options: WebSocket.ClientOptions & { servername: string } = { ca, servername: HOSTNAME, headers: { host: HOSTNAME } }
    const ws = new WebSocket(`wss://127.0.0.1:${httpsPort}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`, options)
    try {
      const [first] = (await within(once(ws, 'message'), 10_000, 'a frame through Caddy')) as [Buffer]
      assert.equal(decodeFrame(first).header.t, '#identity')
    } finally {
      ws.terminate()
    }
  })
})
