// The Docker image's production tree, built here the way the Dockerfile builds it, since no container engine runs on
// CI: package.json, package-lock.json, scripts/, then `npm ci --omit=dev --omit=optional`, then migrations/ and src/,
// in a fresh directory. The server started from it must work without a single devDependency: a runtime import of
// one (a test helper, the reference PDS, TypeScript) fails here and nowhere else. It answers _health, makes an
// account through the embedded PLC directory, takes a record and a blob, serves the repo, the firehose, the status
// page and /metrics (prom-client, loaded only then), and stops cleanly.
//
// npm ci reaches the npm registry for anything not in the local npm cache (--prefer-offline); about 35 s here with a
// warm cache. Two differences from the image, both about the runtime rather than the tree: the image's Node 22 is
// this checkout's node_modules/.bin/node, and the better-sqlite3 addon is copied from this checkout (same version,
// from the same lockfile, built for the same Node) instead of compiled again by the postinstall script
// (--ignore-scripts), which would take minutes.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { spawnServer, stopChild } from './helpers/child.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { freePort } from './helpers/pds.ts'
import { NPM, requireProgram, skipWithout } from './helpers/system.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const ADDON = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'

describe('the production tree (npm ci --omit=dev, as the Dockerfile)', { skip: skipWithout(NPM) }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-prod-tree-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('installs without devDependencies and serves from them alone', { timeout: 300_000 }, async () => {
    const npm = requireProgram(NPM)
    const app = path.join(dir, 'app')
    mkdirSync(app)
    // The Dockerfile's COPY lines, in its order.
    for (const entry of ['package.json', 'package-lock.json', 'scripts']) cpSync(path.join(ROOT, entry), path.join(app, entry), { recursive: true })
    const started = performance.now()
    execFileSync(npm, ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: app,
      // npm runs under the project's Node 22, as it does in the node:22 image.
      env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    console.log(`# npm ci --omit=dev took ${Math.round((performance.now() - started) / 1000)} s`)
    for (const entry of ['migrations', 'src']) cpSync(path.join(ROOT, entry), path.join(app, entry), { recursive: true })
    mkdirSync(path.dirname(path.join(app, ADDON)), { recursive: true })
    cpSync(path.join(ROOT, ADDON), path.join(app, ADDON))

    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
    const present = Object.keys(pkg.devDependencies).filter((name) => existsSync(path.join(app, 'node_modules', name)))
    assert.deepEqual(present, [], 'no devDependency in the tree')

    const port = await freePort()
    const env = { NODE_ENV: 'production', PDS_PORT: String(port), PDS_DATA_DIRECTORY: path.join(dir, 'data'), PDS_METRICS_ENABLED: 'true' }
    const { child } = await spawnServer(env, { cwd: app })
    try {
      const url = `http://localhost:${port}`
      const health = await fetch(`${url}/xrpc/_health`)
      assert.equal(health.status, 200)
      assert.equal(((await health.json()) as { version: string }).version, JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version)

      const agent = new AtpAgent({ service: url })
      const { data } = await agent.createAccount({ handle: 'prod.test', email: 'prod@example.com', password: 'pw' })
      const firehose = await FirehoseClient.connect({ url }, { cursor: 0 })
      const { data: blob } = await agent.com.atproto.repo.uploadBlob(Buffer.from('GIF89a' + 'x'.repeat(100)), { encoding: 'image/gif' })
      assert.equal(blob.blob.mimeType, 'image/gif')
      const { data: rec } = await agent.com.atproto.repo.createRecord({
        repo: data.did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 'from the production tree', createdAt: new Date().toISOString() },
      })
      await firehose.until(() => firehose.events.some((f) => f.body.commit?.toString() === rec.commit?.cid), 'the #commit on the firehose')
      const repo = await agent.com.atproto.sync.getRepo({ did: data.did })
      assert.ok(repo.data.byteLength > 0)
      const page = await fetch(url, { headers: { accept: 'text/html' } })
      assert.match(await page.text(), /<h1>Aurora Locus<\/h1>/)
      const metrics = await (await fetch(`${url}/metrics`)).text()
      assert.match(metrics, /^aurora_repo_writes_total\{action="create"\} 1$/m)
      firehose.close()
    } finally {
      assert.equal(await stopChild(child), 0, 'a clean exit on SIGTERM')
    }
  })
})
