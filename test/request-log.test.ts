// What a failed request leaves in the log: client faults and 501 one info line without a stack, another service's
// failure one warn line without it, real failures an error line with the stack; each with the id the response's
// X-Request-Id carries. Read from a real server whose logger writes to an array here.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { PassThrough } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { createLogger } from '../src/logger.ts'
import { captureLog, type LogLine } from './helpers/log-capture.ts'
import type { TestPlc } from './helpers/plc.ts'
import { createUser, freePort, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'

const INFO = 30
const WARN = 40
const ERROR = 50

describe('request logs', () => {
  let plc: TestPlc
  let pds: TestPds
  const { log, lines, awaitLine } = captureLog()

  before(async () => ({ plc, pds } = await startServers({ log })))
  after(() => stopServers({ plc, pds }))

  /** The one line logged for the request whose response carried `reqId`. */
  function lineFor(reqId: string | null): LogLine {
    assert.ok(reqId, 'the response carries X-Request-Id')
    const found = lines.filter((l) => l.reqId === reqId)
    assert.equal(found.length, 1, `one log line for ${reqId}: ${JSON.stringify(found)}`)
    return found[0]
  }

  it('a 400 is one info line: method, path, status, error name, no stack', async () => {
    const res = await xrpc(pds, 'com.atproto.repo.getRecord', { query: { repo: 'did:plc:nobody' } })
    assert.equal(res.status, 400)
    const line = lineFor(res.headers.get('x-request-id'))
    assert.equal(line.level, INFO)
    assert.equal(line.method, 'GET')
    assert.equal(line.path, '/xrpc/com.atproto.repo.getRecord')
    assert.equal(line.status, 400)
    assert.equal(line.error, 'InvalidRequest')
    assert.equal(line.message, res.body.message)
    assert.equal(line.err, undefined)
    assert.doesNotMatch(JSON.stringify(line), /stack/)
  })

  it('a method this server neither has nor can forward (400) is also an info line without a stack', async () => {
    const res = await xrpc(pds, 'com.example.notAMethod', { method: 'POST' })
    assert.equal(res.status, 400)
    const line = lineFor(res.headers.get('x-request-id'))
    assert.equal(line.level, INFO)
    assert.equal(line.status, 400)
    assert.equal(line.error, 'InvalidRequest')
    assert.doesNotMatch(JSON.stringify(line), /stack/)
  })

  it('another service failing (502) is one warn line without a stack', async () => {
    const { agent } = await createUser(pds)
    // A service whose did:web host refuses connections: its document cannot be read.
    const res = await xrpc(pds, 'com.example.remote.thing', {
      headers: { authorization: `Bearer ${agent.session!.accessJwt}`, 'atproto-proxy': `did:web:localhost%3A${await freePort()}#svc` },
    })
    assert.equal(res.status, 502)
    const line = lineFor(res.headers.get('x-request-id'))
    assert.equal(line.level, WARN)
    assert.equal(line.error, 'UpstreamFailure')
    assert.equal(line.err, undefined)
    assert.doesNotMatch(JSON.stringify(line), /stack/)
  })

  it('a path that does not percent-decode is the client’s 400, not our 500', async () => {
    const res = await fetch(`${pds.url}/xrpc/com.atproto.%E0%A4%A`)
    assert.equal(res.status, 400)
    assert.equal(((await res.json()) as { error: string }).error, 'InvalidRequest')
    assert.equal(lineFor(res.headers.get('x-request-id')).level, INFO)
  })

  it('an upload the client abandons mid-body is its doing: an info line, no stack', async () => {
    const { res: account } = await createUser(pds)
    const url = new URL('/xrpc/com.atproto.repo.uploadBlob', pds.url)
    const req = http.request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${account.data.accessJwt}`,
        'content-type': 'application/octet-stream',
        'content-length': '5000000',
      },
    })
    req.on('error', () => {}) // we hang up ourselves
    // A fifth of the body, then hang up, as a client on a dropped connection does.
    await new Promise<void>((resolve) => req.write(Buffer.alloc(1_000_000), () => resolve()))
    req.destroy()
    const line = await awaitLine((l) => l.path === '/xrpc/com.atproto.repo.uploadBlob')
    assert.equal(line.level, INFO, JSON.stringify(line))
    assert.equal(line.status, 400)
    assert.doesNotMatch(JSON.stringify(line), /stack/)
  })

  it('a handler that fails is a 500 and an error line with the stack and the request id', async () => {
    // Break one table of this test's own database: the next invite code insert fails inside SQLite.
    pds.db.exec('ALTER TABLE invite_code RENAME TO invite_code_broken')
    try {
      const res = await xrpc(pds, 'com.atproto.server.createInviteCode', {
        body: { useCount: 1 },
        headers: { authorization: pds.adminAuth },
      })
      assert.equal(res.status, 500)
      assert.deepEqual(res.body, { error: 'InternalServerError', message: 'Internal Server Error' })
      const line = lineFor(res.headers.get('x-request-id'))
      assert.equal(line.level, ERROR)
      assert.equal(line.method, 'POST')
      assert.equal(line.path, '/xrpc/com.atproto.server.createInviteCode')
      assert.equal(line.status, 500)
      assert.match(line.err.message, /no such table: invite_code/)
      assert.match(line.err.stack, /\n\s+at /, 'a stack trace')
    } finally {
      pds.db.exec('ALTER TABLE invite_code_broken RENAME TO invite_code')
    }
  })

  it('outside /xrpc too, a failure is logged once at error and answered as JSON, not Express’s HTML page', async () => {
    pds.db.exec('ALTER TABLE account RENAME TO account_broken')
    try {
      const res = await fetch(`${pds.url}/`, { headers: { accept: 'text/html' } }) // the status page counts accounts
      assert.equal(res.status, 500)
      assert.deepEqual(await res.json(), { error: 'InternalServerError', message: 'Internal Server Error' })
      const line = lineFor(res.headers.get('x-request-id'))
      assert.equal(line.level, ERROR)
      assert.equal(line.path, '/')
      assert.match(line.err.stack, /no such table: account/)
    } finally {
      pds.db.exec('ALTER TABLE account_broken RENAME TO account')
    }
  })

  it('keeps a sane incoming X-Request-Id (a proxy’s), replaces anything else', async () => {
    const proxyId = '0123456789abcdef0123456789abcdef' // nginx's $request_id
    const kept = await xrpc(pds, 'com.example.notAMethod', { headers: { 'x-request-id': proxyId } })
    assert.equal(kept.headers.get('x-request-id'), proxyId)
    assert.equal(lineFor(proxyId).status, 400)

    for (const bad of ['has spaces and "quotes"', 'x'.repeat(129)]) {
      const res = await xrpc(pds, 'com.example.notAMethod', { headers: { 'x-request-id': bad } })
      const id = res.headers.get('x-request-id')
      assert.match(id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random UUID')
      assert.equal(lineFor(id).status, 400)
    }
  })

  it('successful responses carry an id too, readable by web clients, and leave no line', async () => {
    const before = lines.length
    const res = await xrpc(pds, 'com.atproto.server.describeServer')
    assert.equal(res.status, 200)
    assert.ok(res.headers.get('x-request-id'))
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /X-Request-Id/)
    assert.equal(lines.length, before)
  })
})

describe('createLogger', () => {
  it('writes JSON lines unless asked for pretty ones', async () => {
    const json = new PassThrough()
    createLogger('info', { pretty: false, destination: json }).info({ reqId: 'r1' }, 'hello')
    const line = JSON.parse(String(json.read()))
    assert.equal(line.msg, 'hello')
    assert.equal(line.reqId, 'r1')
    assert.equal(line.level, INFO)
  })

  it('writes human-readable lines through pino-pretty when pretty (main.ts: stdout is a TTY)', async () => {
    const text = new PassThrough()
    const data = once(text, 'data') // pino-pretty formats in a stream of its own: wait for its output
    createLogger('info', { pretty: true, destination: text }).info({ reqId: 'r2' }, 'hello')
    const out = String((await data)[0])
    assert.throws(() => JSON.parse(out))
    assert.match(out, /INFO/)
    assert.match(out, /hello/)
    assert.match(out, /reqId: "r2"/)
  })
})
