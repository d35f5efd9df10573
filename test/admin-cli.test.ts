// `npm run admin`, run as a child process exactly as an operator would, against a running Aurora: its output for
// people and with --json, its exit codes (0 done, 1 failed, 2 usage, 3 wrong admin password, 4 no such account), and
// the changes it makes, checked through the API. The server's URL and admin password come from the same environment
// as the server's (PDS_PORT, PDS_DATA_DIRECTORY: a localhost server keeps its secrets there).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { runCli, ROOT, type CliRun } from './helpers/cli.ts'
import { createUser, freePort, startServers, stopServers, type TestPds } from './helpers/pds.ts'
import type { TestPlc } from './helpers/plc.ts'

describe('npm run admin', () => {
  let plc: TestPlc
  let pds: TestPds
  let env: Record<string, string>

  before(async () => {
    ;({ plc, pds } = await startServers())
    env = { PDS_PORT: new URL(pds.url).port, PDS_DATA_DIRECTORY: pds.dataDir }
  })
  after(() => stopServers({ plc, pds }))

  const admin = (...args: string[]) => runCli('src/admin.ts', args, { cwd: ROOT, env, timeoutMs: 30_000 })
  const show = (run: CliRun) => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`
  const json = (run: CliRun) => {
    assert.equal(run.code, 0, show(run))
    return JSON.parse(run.stdout)
  }
  const login = (identifier: string, password: string) => pds.agent().login({ identifier, password })

  it('--help lists every command and the exit codes; a wrong command is a usage error (exit 2)', async () => {
    const [help, unknown, stray, badCount] = await Promise.all([
      admin('--help'),
      admin('account', 'frobnicate'),
      admin('account', 'list', '--yes'),
      admin('invite', 'create', '--count', 'many'),
    ])
    assert.equal(help.code, 0, show(help))
    for (const command of ['account list', 'account info', 'account create', 'account delete', 'account takedown',
      'account untakedown', 'account reset-password', 'invite create', 'request-crawl']) {
      assert.match(help.stdout, new RegExp(`^  ${command}`, 'm'), command)
    }
    assert.match(help.stdout, /exit codes: 0 done, 1 .*2 bad command/)
    assert.equal(unknown.code, 2, show(unknown))
    assert.equal(unknown.stderr, '✖ unknown command: account frobnicate (see --help)\n')
    assert.equal(stray.code, 2, show(stray))
    assert.match(stray.stderr, /--yes is not an option of account list/)
    assert.equal(badCount.code, 2, show(badCount))
    assert.match(badCount.stderr, /--count must be a whole number/)
  })

  it('account create, list and info: the password printed once works; the table and --json agree', async () => {
    const created = await admin('account', 'create', 'dora@example.com', 'dora.test')
    assert.equal(created.code, 0, show(created))
    assert.match(created.stdout, /^✔ account created$/m)
    const did = /^DID +(did:plc:\w+)$/m.exec(created.stdout)?.[1]
    const password = /^Password +(\S+)$/m.exec(created.stdout)?.[1]
    assert.ok(did && password, created.stdout)
    assert.match(created.stdout, /^Handle +dora\.test$/m)
    assert.ok(password.length >= 24)
    await login('dora.test', password)

    const eve = await createUser(pds, 'eve.test')
    const [table, listed, info] = await Promise.all([
      admin('account', 'list'),
      admin('account', 'list', '--json'),
      admin('account', 'info', '@dora.test'),
    ])
    assert.equal(table.code, 0, show(table))
    const lines = table.stdout.trimEnd().split('\n')
    assert.match(lines[0], /^HANDLE +DID +EMAIL +STATUS +CREATED$/)
    assert.match(table.stdout, new RegExp(`^dora\\.test +${did} +dora@example\\.com +active +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d$`, 'm'))
    assert.match(table.stdout, new RegExp(`^eve\\.test +${eve.did} `, 'm'))
    assert.equal(lines.at(-1), '2 accounts')
    const accounts = json(listed).accounts as { did: string; handle: string; status: string; active: boolean }[]
    assert.deepEqual(
      accounts.map((a) => [a.handle, a.did, a.status, a.active]).sort(),
      [['dora.test', did, 'active', true], ['eve.test', eve.did, 'active', true]],
    )
    assert.equal(info.code, 0, show(info))
    assert.match(info.stdout, new RegExp(`^DID +${did}$`, 'm'))
    assert.match(info.stdout, /^Email +dora@example\.com \(not confirmed\)$/m)
    assert.match(info.stdout, /^Status +active$/m)
  })

  it('account takedown and untakedown, by handle even while it no longer resolves', async () => {
    const frank = await createUser(pds, 'frank.test')
    const down = await admin('account', 'takedown', 'frank.test', '--ref', 'case-42')
    assert.equal(down.code, 0, show(down))
    assert.equal(down.stdout, `✔ took down frank.test (${frank.did}), ref case-42\n`)
    await assert.rejects(login('frank.test', frank.password), /taken down/)
    const info = await admin('account', 'info', frank.did, '--json')
    assert.deepEqual(json(info).takedown, { applied: true, ref: 'case-42' })
    assert.equal(json(info).account.handle, 'frank.test')

    const up = await admin('account', 'untakedown', 'frank.test', '--json')
    assert.deepEqual(json(up), { did: frank.did, handle: 'frank.test', takedown: { applied: false } })
    await login('frank.test', frank.password)
  })

  it('account reset-password: a new password, printed once; the old one and its sessions stop working', async () => {
    const gina = await createUser(pds, 'gina.test')
    const run = await admin('account', 'reset-password', gina.did, '--json')
    const { password } = json(run)
    assert.equal(typeof password, 'string')
    await assert.rejects(gina.agent.com.atproto.server.getSession(), /Token has been revoked/)
    await assert.rejects(login(gina.did, gina.password), /Invalid identifier or password/)
    await login(gina.did, password)
  })

  it('invite create: codes one per line, or as JSON', async () => {
    const [lines, asJson] = await Promise.all([
      admin('invite', 'create', '--count', '2', '--uses', '3'),
      admin('invite', 'create', '--for', 'dora.test', '--json'),
    ])
    assert.equal(lines.code, 0, show(lines))
    const codes = lines.stdout.trim().split('\n')
    assert.equal(codes.length, 2)
    for (const code of codes) assert.match(code, /^localhost-[a-z2-7]{5}-[a-z2-7]{5}$/)
    const made = json(asJson)
    assert.equal(made.codes.length, 1)
    assert.match(made.forAccount, /^did:plc:/)
  })

  it('account delete: asks for --yes without a terminal; then the account is gone (exit 4 for it afterwards)', async () => {
    const hank = await createUser(pds, 'hank.test')
    const refused = await admin('account', 'delete', 'hank.test')
    assert.equal(refused.code, 2, show(refused))
    assert.match(refused.stderr, /not deleting hank\.test \(did:plc:\w+\) without --yes/)
    await login('hank.test', hank.password)

    const deleted = await admin('account', 'delete', 'hank.test', '--yes')
    assert.equal(deleted.code, 0, show(deleted))
    assert.equal(deleted.stdout, `✔ deleted hank.test (${hank.did})\n`)
    const gone = await admin('account', 'info', hank.did)
    assert.equal(gone.code, 4, show(gone))
    assert.match(gone.stderr, new RegExp(`^✖ no account ${hank.did} on this PDS`))
  })

  it('a wrong admin password is exit 3 with a clear message; an unreachable server exit 1', async () => {
    const closed = await freePort()
    const [wrong, away] = await Promise.all([
      admin('account', 'list', '--password', 'not-the-password'),
      admin('account', 'list', '--url', `http://127.0.0.1:${closed}`, '--password', 'x'),
    ])
    assert.equal(wrong.code, 3, show(wrong))
    assert.equal(wrong.stdout, '')
    assert.match(wrong.stderr, /^✖ the PDS \(http:\/\/127\.0\.0\.1:\d+\) refused the admin password .*→ check --password or PDS_ADMIN_PASSWORD\n$/)
    assert.equal(away.code, 1, show(away))
    assert.match(away.stderr, new RegExp(`^✖ cannot reach the PDS at http://127\\.0\\.0\\.1:${closed} while trying to .*ECONNREFUSED`))
  })

  it('a data directory that is not the server\'s: the refusal says so instead of blaming the password', async () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'aurora-admin-elsewhere-'))
    try {
      const run = await runCli('src/admin.ts', ['account', 'list'], {
        cwd: ROOT,
        env: { PDS_PORT: env.PDS_PORT, PDS_DATA_DIRECTORY: elsewhere },
        timeoutMs: 30_000,
      })
      assert.equal(run.code, 3, show(run))
      assert.match(run.stderr, new RegExp(`refused the admin password .*→ ${elsewhere} holds no server database, so its ` +
        `secrets\\.json is not the server's: set PDS_DATA_DIRECTORY to the server's data directory, or pass --password\\n$`))
    } finally {
      rmSync(elsewhere, { recursive: true, force: true })
    }
  })

  it('blobs migrate-to-s3 on a data directory without a database: one clear line, exit 1', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'aurora-admin-nodb-'))
    try {
      const run = await runCli('src/admin.ts', ['blobs', 'migrate-to-s3'], {
        cwd: ROOT,
        env: { PDS_DATA_DIRECTORY: empty, PDS_BLOBSTORE_S3_BUCKET: 'aurora-blobs' },
        timeoutMs: 30_000,
      })
      assert.equal(run.code, 1, show(run))
      assert.equal(run.stderr, `✖ no database at ${path.join(empty, 'pds.sqlite')}: is PDS_DATA_DIRECTORY the server's?\n`)
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it('request-crawl: each relay given is asked with our hostname; one refusing is exit 1', async () => {
    const asked: unknown[] = []
    const relay = http.createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        asked.push({ path: req.url, body: JSON.parse(body) })
        if (req.url?.startsWith('/xrpc/')) res.writeHead(200).end('{}')
        else res.writeHead(500).end()
      })
    })
    relay.listen(0, '127.0.0.1')
    await once(relay, 'listening')
    try {
      const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
      const ok = await admin('request-crawl', url)
      assert.equal(ok.code, 0, show(ok))
      assert.equal(ok.stdout, `✔ ${url} will crawl localhost\n`)
      assert.deepEqual(asked, [{ path: '/xrpc/com.atproto.sync.requestCrawl', body: { hostname: 'localhost' } }])

      const down = await admin('request-crawl', `${url},http://127.0.0.1:9`, '--json')
      assert.equal(down.code, 1, show(down))
      const report = JSON.parse(down.stdout)
      assert.deepEqual(report.results.map((r: { ok: boolean }) => r.ok), [true, false])
      assert.match(down.stderr, /1 of 2 relays did not accept the request/)
    } finally {
      relay.close()
    }
  })
})
