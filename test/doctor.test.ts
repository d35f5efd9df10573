// The doctor against local servers only: a PDS behind a small reverse proxy (which passes, refuses or strips
// WebSocket upgrades), the test PLC directory, and a relay stand-in. It passes a good setup, and names the broken
// piece with its fix: a proxy without upgrade support, DID documents pointing elsewhere or with a stale key, a relay
// that is down. Also the CLI's output and exit codes.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Keypair } from '@atproto/crypto'
import { Client as PlcClient } from '@did-plc/lib'
import type { Config } from '../src/config/index.ts'
import { checkDns, checkPublicUrl, runDoctor } from '../src/doctor/checks.ts'
import type { CheckResult, DoctorReport } from '../src/doctor/types.ts'
import { formatReport } from '../src/doctor/format.ts'
import { keypairFromHex, newSigningKey } from '../src/identity/keys.ts'
import { within } from './helpers/firehose-client.ts'
import { createUser, freePort, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { RelayStandIn } from './helpers/relay-standin.ts'

const ROOT = path.resolve(import.meta.dirname, '..')

type ProxyMode = 'pass' | 'refuse' | 'strip'

/** A tiny reverse proxy: forwards plain HTTP; WebSocket upgrades are passed, refused with 400, or forwarded as a
 *  plain GET with the Upgrade header stripped (what a misconfigured nginx does). */
async function startProxy(port: number, target: () => number) {
  const state = { mode: 'pass' as ProxyMode }
  const sockets = new Set<net.Socket>()
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: target(), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers)
      ur.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {})
    if (state.mode === 'refuse') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request')
      return
    }
    if (state.mode === 'strip') {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => !/^(upgrade|connection|sec-websocket-.*)$/i.test(k)),
      )
      http
        .get({ host: '127.0.0.1', port: target(), path: req.url, headers }, (ur) => {
          let body = ''
          ur.on('data', (c) => (body += c))
          ur.on('end', () =>
            socket.end(
              `HTTP/1.1 ${ur.statusCode} ${ur.statusMessage}\r\nContent-Type: ${ur.headers['content-type']}\r\n` +
                `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
            ),
          )
        })
        .on('error', () => socket.destroy())
      return
    }
    const up = net.connect(target(), '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`]
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
      up.write(lines.join('\r\n') + '\r\n\r\n')
      up.write(head)
      socket.pipe(up).pipe(socket)
    })
    up.on('error', () => socket.destroy())
    socket.on('close', () => up.destroy())
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return {
    state,
    url: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      }),
  }
}

const byId = (report: DoctorReport, id: string): CheckResult => {
  const r = report.results.find((x) => x.id === id)
  assert.ok(r, `a result with id ${id} in ${report.results.map((x) => x.id).join(', ')}`)
  return r
}

function runCli(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['src/doctor/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => (stdout += c))
  child.stderr.on('data', (c) => (stderr += c))
  return within(
    once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr })),
    45_000,
    'the doctor CLI to exit',
  ).catch((err) => {
    child.kill('SIGKILL')
    throw err
  })
}

describe('doctor: single checks', () => {
  const prod = { hostname: 'pds.example.com', devMode: false }

  it('wants https on the default port with a hostname; warns only in dev mode', () => {
    assert.equal(checkPublicUrl({ ...prod, publicUrl: 'https://pds.example.com' }).status, 'pass')
    const http = checkPublicUrl({ ...prod, publicUrl: 'http://pds.example.com' })
    assert.equal(http.status, 'fail')
    assert.match(http.detail, /is not https/)
    assert.match(http.fix!, /TLS/)
    const port = checkPublicUrl({ ...prod, publicUrl: 'https://pds.example.com:8443' })
    assert.equal(port.status, 'fail')
    assert.match(port.detail, /has a port \(:8443\)/)
    const ip = checkPublicUrl({ ...prod, publicUrl: 'https://203.0.113.5' })
    assert.equal(ip.status, 'fail')
    assert.match(ip.detail, /no public hostname \(203\.0\.113\.5\)/)
    const other = checkPublicUrl({ ...prod, publicUrl: 'https://other.example.com' })
    assert.equal(other.status, 'warn')
    assert.match(other.detail, /differs from PDS_HOSTNAME/)
    const dev = checkPublicUrl({ hostname: 'localhost', devMode: true, publicUrl: 'http://localhost:3000' })
    assert.equal(dev.status, 'warn')
    assert.match(dev.detail, /dev mode/)
  })

  it('resolves the hostname: missing → fail (warn in dev), private only → warn, public → pass', async () => {
    const notFound = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })
    }
    const missing = await checkDns({ publicUrl: 'https://pds.example.com', devMode: false }, notFound)
    assert.equal(missing.status, 'fail')
    assert.match(missing.detail, /does not resolve \(ENOTFOUND\)/)
    assert.match(missing.fix!, /A \(and\/or AAAA\) record/)
    assert.equal((await checkDns({ publicUrl: 'https://pds.example.com', devMode: true }, notFound)).status, 'warn')
    const priv = await checkDns({ publicUrl: 'https://pds.example.com', devMode: false }, async () => ['192.168.1.20'])
    assert.equal(priv.status, 'warn')
    const pub = await checkDns({ publicUrl: 'https://pds.example.com', devMode: false }, async () => ['203.0.113.5'])
    assert.equal(pub.status, 'pass')
    assert.match(pub.detail, /203\.0\.113\.5/)
  })
})

describe('doctor against local servers', () => {
  let plc: TestPlc
  let relay: RelayStandIn
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let pds: TestPds
  let cfg: Config
  let pdsPort = 0
  let rotationKey: Keypair
  const dids: string[] = []

  before(async () => {
    plc = await startPlc()
    relay = await RelayStandIn.start()
    // The proxy's port is the public URL the PDS writes into DID documents, so it must be known first.
    proxy = await startProxy(await freePort(), () => pdsPort)
    pds = await startPds({
      plcUrl: plc.url,
      env: { PDS_PUBLIC_URL: proxy.url, PDS_FEDERATION_ENABLED: 'true', PDS_FEDERATION_RELAY_URLS: relay.url },
    })
    pdsPort = Number(new URL(pds.url).port)
    cfg = pds.ctx.cfg
    rotationKey = await keypairFromHex(cfg.secrets.plcRotationKeyHex)
    const alice = await createUser(pds)
    await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'hello relay', createdAt: new Date().toISOString() },
    })
    dids.push(alice.did)
    // A relay that follows us perfectly: it knows our host at our latest seq and every repo at its latest rev.
    relay.onQuery = async (nsid, params) => {
      if (nsid === 'com.atproto.sync.getHostStatus') {
        return {
          status: 200,
          body: { hostname: params.get('hostname'), status: 'active', seq: pds.ctx.sequencer.latestSeq(), accountCount: dids.length },
        }
      }
      if (nsid === 'com.atproto.sync.getRepoStatus') {
        const ours = await xrpc(pds, 'com.atproto.sync.getRepoStatus', { query: { did: params.get('did')! } })
        return { status: ours.status, body: ours.body }
      }
      return undefined
    }
  })
  after(async () => {
    await proxy.close()
    await pds.destroy()
    await relay.close()
    await plc.close()
  })

  const cliEnv = () => ({
    PDS_PORT: String(pdsPort),
    PDS_DATA_DIRECTORY: pds.dataDir,
    PDS_PUBLIC_URL: proxy.url,
    PDS_DID_PLC_URL: plc.url,
    PDS_FEDERATION_ENABLED: 'true',
    PDS_FEDERATION_RELAY_URLS: relay.url,
    PDS_LOG_LEVEL: 'silent',
  })

  it('passes a good setup (dev mode: only warnings for localhost and .test handles)', async () => {
    proxy.state.mode = 'pass'
    const report = await runDoctor({ cfg })
    const failures = report.results.filter((r) => r.status === 'fail')
    assert.deepEqual(failures, [], formatReport(report))
    assert.equal(report.ok, true)
    assert.equal(byId(report, 'public-url').status, 'warn')
    assert.equal(byId(report, 'health').status, 'pass')
    assert.equal(byId(report, 'describe-server').status, 'pass')
    const firehose = byId(report, 'firehose')
    assert.equal(firehose.status, 'pass')
    assert.match(firehose.detail, /first frame: #\w+ seq 1\)/, 'cursor=0 replays from the first event')
    const accounts = byId(report, 'accounts')
    assert.equal(accounts.status, 'pass')
    assert.match(accounts.detail, /^1 account: DID documents point here with the current signing keys and handles resolve back/)
    const alice = byId(report, `account:${dids[0]}`)
    assert.equal(alice.status, 'warn')
    assert.match(alice.detail, /resolves only through this server/)
    const r = byId(report, `relay:${relay.url}`)
    assert.equal(r.status, 'pass')
    assert.match(r.detail, /knows localhost: status active, 1 account, caught up at seq \d+; repos: 1\/1 at our latest rev/)
  })

  it('finds a reverse proxy that refuses WebSocket upgrades, and one that strips the Upgrade header', async () => {
    try {
      proxy.state.mode = 'refuse'
      const refused = await runDoctor({ cfg })
      assert.equal(refused.ok, false)
      const f = byId(refused, 'firehose')
      assert.equal(f.status, 'fail')
      assert.match(f.detail, /WebSocket upgrade to subscribeRepos through http:\/\/localhost:\d+ was refused with HTTP 400/)
      assert.match(f.fix!, /proxy_set_header Upgrade \$http_upgrade/)
      assert.deepEqual(
        refused.results.filter((r) => r.status === 'fail').map((r) => r.id),
        ['firehose'],
        'everything else still passes',
      )

      proxy.state.mode = 'strip'
      const stripped = await runDoctor({ cfg })
      const s = byId(stripped, 'firehose')
      assert.equal(s.status, 'fail')
      assert.match(s.detail, /without its Upgrade header \(HTTP 426\).*drops it/)
    } finally {
      proxy.state.mode = 'pass'
    }
  })

  it('finds DID documents pointing at another PDS or holding a stale signing key', async () => {
    const bob = await createUser(pds)
    const carol = await createUser(pds)
    dids.push(bob.did, carol.did)
    const client = new PlcClient(plc.url)
    // @did-plc/lib is typed against an older @atproto/crypto; the Keypair interface it uses is unchanged.
    const signer = rotationKey as unknown as Parameters<PlcClient['updatePds']>[1]
    await client.updatePds(bob.did, signer, 'https://elsewhere.example.com')
    const stale = (await newSigningKey()).keypair.did()
    await client.updateAtprotoKey(carol.did, signer, stale)

    let report: DoctorReport
    try {
      report = await runDoctor({ cfg })
    } finally {
      // Put both identities back so later checks see a healthy PDS again.
      await client.updatePds(bob.did, signer, cfg.publicUrl)
      await client.updateAtprotoKey(carol.did, signer, (await keypairFromHex(pds.ctx.accounts.store.byDid(carol.did)!.signing_key_hex)).did())
    }
    assert.equal(report.ok, false)
    const b = byId(report, `account:${bob.did}`)
    assert.equal(b.status, 'fail')
    assert.match(b.detail, new RegExp(`names PDS https://elsewhere\\.example\\.com, not ${cfg.publicUrl}`))
    assert.match(b.fix!, /PLC operation .* atproto_pds/)
    const c = byId(report, `account:${carol.did}`)
    assert.equal(c.status, 'fail')
    assert.match(c.detail, new RegExp(`signing key is ${stale}, but this PDS signs with did:key:`))
    const summary = byId(report, 'accounts')
    assert.equal(summary.status, 'fail')
    assert.match(summary.detail, /^2 of 3 accounts have identity problems/)
    assert.equal(byId(report, 'firehose').status, 'pass')

    const repaired = await runDoctor({ cfg })
    assert.equal(byId(repaired, 'accounts').status, 'pass', formatReport(repaired))
  })

  it('reports a relay that is down, and one that does not know us', async () => {
    const deadPort = await freePort()
    const down = await runDoctor({ cfg: { ...cfg, federation: { ...cfg.federation, relayUrls: [`http://localhost:${deadPort}`] } } })
    const d = byId(down, `relay:http://localhost:${deadPort}`)
    assert.equal(d.status, 'fail')
    assert.match(d.detail, /is unreachable: .*ECONNREFUSED/)
    assert.match(d.fix!, /PDS_FEDERATION_RELAY_URLS/)

    const stranger = await RelayStandIn.start()
    try {
      stranger.onQuery = (nsid) => (nsid === 'com.atproto.sync.getHostStatus' ? { status: 400, body: { error: 'HostNotFound' } } : undefined)
      const report = await runDoctor({ cfg: { ...cfg, federation: { ...cfg.federation, relayUrls: [stranger.url] } } })
      const s = byId(report, `relay:${stranger.url}`)
      assert.equal(s.status, 'warn', 'dev mode: localhost is never crawled, so only a warning')
      assert.match(s.detail, /does not know localhost \(dev: relays refuse localhost\)/)
      assert.match(s.fix!, /requestCrawl/)
    } finally {
      await stranger.close()
    }
  })

  it('the CLI prints ✖ lines with fixes and exits 1 when something is wrong, 0 when not', async () => {
    proxy.state.mode = 'refuse'
    try {
      const bad = await runCli(cliEnv())
      assert.equal(bad.code, 1, bad.stderr)
      assert.match(bad.stdout, /^✖ the WebSocket upgrade to subscribeRepos .* → fix: .*Upgrade/m)
      assert.match(bad.stdout, /^✔ .*\/xrpc\/_health answers/m)
      const json = await runCli(cliEnv(), ['--json'])
      assert.equal(json.code, 1)
      const parsed = JSON.parse(json.stdout) as DoctorReport
      assert.equal(parsed.ok, false)
      assert.equal(parsed.results.find((r) => r.id === 'firehose')?.status, 'fail')
    } finally {
      proxy.state.mode = 'pass'
    }
    const good = await runCli(cliEnv())
    assert.equal(good.code, 0, good.stdout + good.stderr)
    assert.doesNotMatch(good.stdout, /^✖/m)
    assert.match(good.stdout, /^No problems; \d+ warnings?\.$/m)

    const usage = await runCli(cliEnv(), ['--bogus'])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /unknown option --bogus/)
  })
})
