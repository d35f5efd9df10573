// Clean shutdown, as `docker stop` does it: the server process takes concurrent writes and has a firehose subscriber
// when SIGTERM arrives. It lets the writes in flight finish (none is answered with a server error), sends the
// subscriber a close frame (1001 Going Away), closes the database and exits 0, within docker's 10 s. After a restart
// every acknowledged write is there. And, in process: a write whose body is still arriving when shutdown begins is
// answered and stored, its answer closes its keep-alive connection, and new connections are refused.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { after, describe, it } from 'node:test'
import { AtpAgent } from '@atproto/api'
import Database from 'better-sqlite3'
import { spawnServer, stopChild } from './helpers/child.ts'
import { FirehoseClient, within } from './helpers/firehose-client.ts'
import { createUser, freePort, startPds } from './helpers/pds.ts'

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

  it('a write in flight when shutdown begins is answered and stored; its connection is not kept for more', async () => {
    const pds = await startPds()
    try {
      const alice = await createUser(pds)
      const body = JSON.stringify({
        repo: alice.did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 'in flight', createdAt: new Date().toISOString() },
      })
      // A keep-alive client (as nginx's upstream pool is) sends the headers and half the body, then waits.
      const agent = new http.Agent({ keepAlive: true })
      const req = http.request(`${pds.url}/xrpc/com.atproto.repo.createRecord`, {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${alice.agent.session!.accessJwt}`,
        },
      })
      const answered = once(req, 'response') as Promise<[http.IncomingMessage]>
      const arrived = once(pds.server, 'request', { signal: AbortSignal.timeout(10_000) })
      req.write(body.slice(0, 40))
      await arrived
      const closing = pds.close()
      // The listening socket is closed: nobody new gets in.
      await assert.rejects(fetch(`${pds.url}/xrpc/_health`), 'a new connection is refused')
      req.end(body.slice(40))
      const [res] = await within(answered, 10_000, 'the answer to the write in flight')
      const text = (await res.toArray()).join('')
      assert.equal(res.statusCode, 200, text)
      assert.equal(res.headers.connection, 'close', 'the connection ends with this answer')
      await within(closing, 10_000, 'the server to close')
      agent.destroy()

      const db = new Database(path.join(pds.dataDir, 'pds.sqlite'), { readonly: true })
      try {
        const uri = JSON.parse(text).uri as string
        assert.equal(db.prepare('SELECT count(*) FROM record WHERE uri = ?').pluck().get(uri), 1, 'the write is stored')
      } finally {
        db.close()
      }
    } finally {
      await pds.close() // the same promise when it already closed
      rmSync(pds.dataDir, { recursive: true, force: true })
    }
  })
})
