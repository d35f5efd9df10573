// A blob store that fails the way remote stores do: answering 500 to everything, or accepting connections and never
// answering. Uploads and blob reads get a clear 502 within a bound (the SDK's retries and PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS),
// nothing is acknowledged that was not stored, and the rest of the server goes on.
import assert from 'node:assert/strict'
import http from 'node:http'
import type net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { png } from './helpers/images.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, type TestPds } from './helpers/pds.ts'

/** An "S3 endpoint" on loopback that answers every request with `answer`, or never answers (`null`). */
async function failingStore(answer: { status: number; body: string } | null) {
  const sockets = new Set<net.Socket>()
  let requests = 0
  const server = http.createServer((req, res) => {
    requests++
    req.resume()
    if (!answer) return // hold the request: a store that hangs
    res.writeHead(answer.status, { 'content-type': 'application/xml' }).end(answer.body)
  })
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    env: {
      PDS_BLOBSTORE_S3_BUCKET: 'blobs',
      PDS_BLOBSTORE_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'key',
      PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: 'secret',
      PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: 'true',
      PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS: '500',
    },
    requests: () => requests,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const INTERNAL_ERROR = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>`

for (const [name, answer] of [
  ['answers 500 to everything', { status: 500, body: INTERNAL_ERROR }],
  ['never answers', null],
] as const) {
  describe(`blobs on S3: a store that ${name}`, () => {
    let plc: TestPlc
    let store: Awaited<ReturnType<typeof failingStore>>
    let pds: TestPds

    before(async () => {
      plc = await startPlc()
      store = await failingStore(answer)
      // The server starts anyway (its sweep of unfinished uploads fails and is logged).
      pds = await startPds({ plcUrl: plc.url, env: store.env })
    })
    after(async () => {
      await pds?.destroy()
      await store?.close()
      await plc?.close()
    })

    it('answers uploads 502 UpstreamFailure, records nothing, and keeps serving the rest', async () => {
      const user = await createUser(pds)
      const before = store.requests()
      const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.res.data.accessJwt}`, 'content-type': 'image/png' },
        body: png(10),
        signal: AbortSignal.timeout(30_000),
      })
      assert.equal(res.status, 502)
      assert.deepEqual(await res.json(), { error: 'UpstreamFailure', message: 'Blob storage is unavailable; try again later' })
      assert.ok(store.requests() > before, 'the store was asked')
      assert.equal(pds.db.prepare('SELECT count(*) FROM blob WHERE did = ?').pluck().get(user.did), 0, 'no blob row')
      const rec = await user.agent.com.atproto.repo.createRecord({
        repo: user.did,
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 'still posting', createdAt: new Date().toISOString() },
      })
      assert.ok(rec.data.uri)
    })
  })
}
