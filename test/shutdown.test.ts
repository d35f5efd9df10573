// Clean shutdown, as `docker stop` does it: the server process takes concurrent writes and has a firehose subscriber
// when SIGTERM arrives. It lets the writes in flight finish (none is answered with a server error), sends the
// subscriber a close frame (1001 Going Away), closes the database and exits 0, within docker's 10 s. After a restart
// every acknowledged write is there.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { after, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { spawnServer, stopChild } from './helpers/child.ts'
import { FirehoseClient, within } from './helpers/firehose-client.ts'
import { freePort } from './helpers/pds.ts'

const WRITERS = 6
const SIGTERM_AFTER_ACKS = 30
/** What `docker stop` waits before SIGKILL. */
const DOCKER_STOP_TIMEOUT_MS = 10_000

describe('shutdown on SIGTERM', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aurora-shutdown-'))
  let child: ChildProcess | undefined
  after(async () => {
    if (child) await stopChild(child, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('finishes the writes in flight, closes the firehose with 1001, exits 0, and loses nothing', async () => {
    const port = await freePort()
    const env = { PDS_PORT: String(port), PDS_DATA_DIRECTORY: dir, PDS_LOG_LEVEL: 'info' }
    const url = `http://localhost:${port}`
    const server = (await spawnServer(env)).child
    child = server
    const log: Record<string, any>[] = []
    readline.createInterface({ input: server.stdout! }).on('line', (line) => log.push(JSON.parse(line)))

    const agent = new AtpAgent({ service: url })
    const { data } = await agent.createAccount({ handle: 'shutdown.test', email: 'shutdown@example.com', password: 'pw' })
    const firehose = await FirehoseClient.connect({ url })

    const acked = new Map<string, string>() // uri → cid
    const failures: number[] = [] // XRPC status of each failed write (1: no HTTP answer at all)
    let signalled = false
    const exited = once(server, 'exit')
    const writer = async (w: number) => {
      for (let i = 0; ; i++) {
        try {
          const res = await agent.com.atproto.repo.createRecord({
            repo: data.did,
            collection: 'app.bsky.feed.post',
            record: { $type: 'app.bsky.feed.post', text: `writer ${w} post ${i}`, createdAt: new Date().toISOString() },
          })
          acked.set(res.data.uri, res.data.cid)
          if (acked.size >= SIGTERM_AFTER_ACKS && !signalled) {
            signalled = true
            server.kill('SIGTERM') // the other writers' requests are in flight
          }
        } catch (err) {
          failures.push((err as { status?: number }).status ?? 1)
          if (signalled) return
        }
      }
    }
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)))
    const [code] = await within(exited, DOCKER_STOP_TIMEOUT_MS, 'the server to exit after SIGTERM')
    const closed = await firehose.closed(1000)
    console.log(`# ${acked.size} writes acknowledged; ${failures.length} refused after SIGTERM (statuses ${[...new Set(failures)]})`)
    console.log(`# shutdown took ${log.find((l) => l.msg === 'stopped')?.ms} ms`)

    assert.equal(code, 0, 'exit code')
    assert.equal(closed.code, 1001, 'the firehose subscriber got a Going Away close frame')
    assert.ok(log.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'))
    assert.ok(log.some((l) => l.msg === 'stopped'), 'the last line says it stopped')
    assert.ok(!log.some((l) => l.level >= 50), `no error lines: ${JSON.stringify(log.filter((l) => l.level >= 50))}`)
    // A write after SIGTERM either was answered or never reached a server that could answer it: no 5xx.
    assert.deepEqual(failures.filter((s) => s >= 500), [], 'no server errors during shutdown')

    child = (await spawnServer(env)).child
    const reader = new AtpAgent({ service: url })
    const { data: listed } = await reader.com.atproto.repo.listRecords({ repo: data.did, collection: 'app.bsky.feed.post', limit: 100 })
    let cursor = listed.cursor
    const stored = new Map(listed.records.map((r) => [r.uri, r.cid]))
    while (cursor) {
      const page = await reader.com.atproto.repo.listRecords({ repo: data.did, collection: 'app.bsky.feed.post', limit: 100, cursor })
      for (const r of page.data.records) stored.set(r.uri, r.cid)
      cursor = page.data.records.length ? page.data.cursor : undefined
    }
    for (const [uri, cid] of acked) assert.equal(stored.get(uri), cid, `${uri} after restart`)
  })
})
