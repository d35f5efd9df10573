// The shipped nginx.conf, run by Debian's nginx in front of a real server: TLS, the http→https redirect, JSON and
// blob bodies, and the WebSocket upgrade that relays need for the firehose.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { decodeFrame } from '../src/protocol/frames.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { freePort, startPds, type TestPds } from './helpers/pds.ts'
import { NGINX, OPENSSL, requireProgram, skipWithout } from './helpers/system.ts'

const REPO_CONF = path.resolve(import.meta.dirname, '../nginx.conf')

type Res = { status: number; headers: http.IncomingHttpHeaders; body: string }

describe('deployment behind nginx (the shipped nginx.conf)', { skip: skipWithout(NGINX, OPENSSL) }, () => {
  let nginx: string
  let plc: TestPlc
  let pds: TestPds
  let dir: string
  let ca: Buffer
  let httpsPort: number
  let httpPort: number
  let mainConf: string

  before(async () => {
    nginx = requireProgram(NGINX)
    const openssl = requireProgram(OPENSSL)
    plc = await startPlc()
    pds = await startPds({ plcUrl: plc.url })
    dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-nginx-'))
    for (const sub of ['certs', 'tmp']) mkdirSync(path.join(dir, sub))
    execFileSync(openssl, [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost',
      '-keyout', path.join(dir, 'certs/privkey.pem'), '-out', path.join(dir, 'certs/fullchain.pem'),
    ], { stdio: 'ignore' })
    ca = readFileSync(path.join(dir, 'certs/fullchain.pem'))
    httpsPort = await freePort()
    httpPort = await freePort()

    // The repository's file, with only addresses, ports and paths changed for this machine.
    const site = readFileSync(REPO_CONF, 'utf8')
      .replace('server pds:3000;', `server 127.0.0.1:${new URL(pds.url).port};`)
      .replace(/^\s*listen \[::\]:.*$/gm, '')
      .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
      .replace('listen 443 ssl http2;', `listen 127.0.0.1:${httpsPort} ssl http2;`)
      .replaceAll('/etc/nginx/certs', path.join(dir, 'certs'))
      .replaceAll('pds.example.com', 'localhost')
    assert.notEqual(site, readFileSync(REPO_CONF, 'utf8'))
    writeFileSync(path.join(dir, 'site.conf'), site)
    mainConf = path.join(dir, 'nginx.conf')
    writeFileSync(
      mainConf,
      `user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  include ${dir}/site.conf;
}
`,
    )
    execFileSync(nginx, ['-t', '-q', '-c', mainConf, '-p', dir])
    // Daemon mode: the command returns once the master has bound its sockets, so no readiness polling is needed.
    execFileSync(nginx, ['-c', mainConf, '-p', dir])
  })
  after(async () => {
    if (mainConf && existsSync(path.join(dir, 'nginx.pid'))) execFileSync(nginx, ['-s', 'stop', '-c', mainConf, '-p', dir])
    await pds?.destroy()
    await plc?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  function request(method: string, urlPath: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Res> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: 'localhost', port: httpsPort, path: urlPath, method, ca, headers: { host: 'localhost', ...headers } },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  }

  it('serves the API over TLS', async () => {
    const res = await request('GET', '/xrpc/_health')
    assert.equal(res.status, 200)
    assert.equal(JSON.parse(res.body).version, pds.ctx.version)
  })

  it('keeps connections to the PDS alive: consecutive requests reuse one, and /metrics stays inside', async () => {
    let opened = 0
    const count = () => (opened += 1)
    pds.server.on('connection', count)
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request('GET', '/xrpc/_health')).status, 200)
    } finally {
      pds.server.off('connection', count)
    }
    // Without upstream keep-alive (nginx's default `Connection: close`) each request opens its own: 3.
    assert.ok(opened <= 1, `${opened} new connections to the PDS for 3 requests`)
    assert.equal((await request('GET', '/metrics')).status, 404)
  })

  it('redirects plain http to https', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: httpPort, path: '/xrpc/_health', headers: { host: 'localhost' } }, resolve).on('error', reject),
    )
    res.resume()
    assert.equal(res.statusCode, 301)
    assert.equal(res.headers.location, 'https://localhost/xrpc/_health')
  })

  it('carries JSON writes, a 2 MB blob upload, and the firehose WebSocket', async () => {
    const json = (body: unknown, token?: string) => ({
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    })
    const acct = json({ handle: 'nginx.test', email: 'nginx@example.com', password: 'pw' })
    const created = await request('POST', '/xrpc/com.atproto.server.createAccount', acct.body, acct.headers)
    assert.equal(created.status, 200, created.body)
    const { did, accessJwt } = JSON.parse(created.body)

    const blob = Buffer.alloc(2 * 1024 * 1024, 7)
    const up = await request('POST', '/xrpc/com.atproto.repo.uploadBlob', blob, {
      'content-type': 'image/png',
      authorization: `Bearer ${accessJwt}`,
    })
    assert.equal(up.status, 200, up.body)
    assert.equal(JSON.parse(up.body).blob.size, blob.length)

    const ws = new WebSocket(`wss://localhost:${httpsPort}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`, { ca })
    const first = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame through nginx within 10 s')), 10_000)
      ws.once('message', (data: Buffer) => {
        clearTimeout(timer)
        resolve(data)
      })
      ws.once('error', reject)
    })
    const { header, body } = decodeFrame(first)
    assert.equal(header.t, '#identity')
    assert.equal(body.did, did)

    // A live write arrives through the proxy too.
    const live = new Promise<any>((resolve) =>
      ws.on('message', (data: Buffer) => {
        const f = decodeFrame(data)
        if (f.header.t === '#commit' && (f.body.ops as unknown[]).length === 1) resolve(f.body)
      }),
    )
    const rec = json({ repo: did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'via nginx', createdAt: new Date().toISOString() } }, accessJwt)
    const write = await request('POST', '/xrpc/com.atproto.repo.createRecord', rec.body, rec.headers)
    assert.equal(write.status, 200, write.body)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no live #commit within 10 s')), 10_000)))
    const commit = await Promise.race([live, timeout]).finally(() => clearTimeout(timer))
    assert.equal((commit as any).rev, JSON.parse(write.body).commit.rev)
    ws.close()
  })
})
