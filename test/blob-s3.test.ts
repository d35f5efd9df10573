// Blobs in an S3-compatible store (PDS_BLOBSTORE_S3_*): a real S3 server on loopback (s3rver), a real Aurora, real
// clients. The same blob behaviour as on disk — uploads streamed, getBlob's bytes and headers, temporary uploads and
// orphans cleaned up, an account's blobs deleted with it — plus what only a remote store does: being down, refusing
// credentials, and the move of an existing disk store (migrateBlobsToS3), resumable.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { DiskBlobBackend } from '../src/blob/disk-backend.ts'
import { migrateBlobsToS3, type MigrationProgress } from '../src/blob/migrate-to-s3.ts'
import { S3BlobBackend } from '../src/blob/s3-backend.ts'
import { runCli } from './helpers/cli.ts'
import { png } from './helpers/images.ts'
import { captureLog } from './helpers/log-capture.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, xrpc, type TestPds } from './helpers/pds.ts'
import { startS3, type TestS3 } from './helpers/s3.ts'

const post = (text: string, blob?: unknown) => ({
  $type: 'app.bsky.feed.post',
  text,
  createdAt: new Date().toISOString(),
  ...(blob ? { embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: blob }] } } : {}),
})

async function getBlob(pds: TestPds, did: string, cid: string) {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`)
  return { res, bytes: Buffer.from(await res.arrayBuffer()) }
}

async function uploadRaw(pds: TestPds, accessJwt: string, body: Buffer, type = 'application/octet-stream') {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessJwt}`, 'content-type': type },
    body,
  })
  return { status: res.status, body: (await res.json()) as any }
}

describe('blobs on S3', () => {
  let plc: TestPlc
  let s3: TestS3
  let pds: TestPds

  before(async () => {
    plc = await startPlc()
    s3 = await startS3()
    // A tmp object a killed server left behind: the next start removes it.
    await s3.put('tmp/left-by-a-crash', 'half an upload')
    pds = await startPds({ plcUrl: plc.url, env: { ...s3.env, PDS_BLOB_UPLOAD_LIMIT: String(8 * 1024 * 1024) } })
  })
  after(async () => {
    await pds?.destroy()
    await s3?.close()
    await plc?.close()
  })

  it('sweeps unfinished uploads at start', async () => {
    assert.deepEqual(await s3.keys('tmp/'), [])
  })

  it('stores an upload under blocks/<did>/<cid> and serves it with the same headers as on disk', async () => {
    const alice = await createUser(pds)
    const image = png(2000)
    const up = await alice.agent.com.atproto.repo.uploadBlob(image, { encoding: 'image/png' })
    const cid = up.data.blob.ref.toString()
    assert.equal(up.data.blob.mimeType, 'image/png')
    assert.equal(up.data.blob.size, image.length)
    assert.deepEqual(await s3.keys(), [`blocks/${alice.did}/${cid}`], 'one object, no temporary left')
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('pic', up.data.blob) })

    const { res, bytes } = await getBlob(pds, alice.did, cid)
    assert.equal(res.status, 200)
    assert.ok(bytes.equals(image))
    assert.equal(res.headers.get('content-type'), 'image/png')
    assert.equal(res.headers.get('content-length'), String(image.length))
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; sandbox")
  })

  it('streams a multipart-sized upload (over 5 MiB) and refuses one over the limit, leaving nothing', async () => {
    const bob = await createUser(pds)
    const big = randomBytes(6 * 1024 * 1024)
    const up = await uploadRaw(pds, bob.res.data.accessJwt, big)
    assert.equal(up.status, 200, JSON.stringify(up.body))
    const cid = up.body.blob.ref.$link
    // A collection without a lexicon here: no size constraint on its blob (a post's images have one).
    await bob.agent.com.atproto.repo.createRecord({ repo: bob.did, collection: 'com.example.file', record: { file: up.body.blob } })
    const { bytes } = await getBlob(pds, bob.did, cid)
    assert.ok(bytes.equals(big), 'the same 6 MiB back')

    const tooBig = await uploadRaw(pds, bob.res.data.accessJwt, randomBytes(9 * 1024 * 1024))
    assert.equal(tooBig.status, 413)
    assert.equal(tooBig.body.error, 'PayloadTooLarge')
    assert.deepEqual(await s3.keys('tmp/'), [], 'the refused upload left no temporary object')
    assert.deepEqual(await s3.keys(`blocks/${bob.did}/`), [`blocks/${bob.did}/${cid}`])
  })

  it('deletes orphans, stale temporary uploads and a deleted account\'s blobs', async () => {
    const carol = await createUser(pds)
    const used = await carol.agent.com.atproto.repo.uploadBlob(png(10), { encoding: 'image/png' })
    const rec = await carol.agent.com.atproto.repo.createRecord({
      repo: carol.did,
      collection: 'app.bsky.feed.post',
      record: post('soon gone', used.data.blob),
    })
    const temp = await carol.agent.com.atproto.repo.uploadBlob(png(20), { encoding: 'image/png' })
    const kept = await carol.agent.com.atproto.repo.uploadBlob(png(30), { encoding: 'image/png' })
    await carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: 'app.bsky.feed.post', record: post('stays', kept.data.blob) })
    const key = (b: { ref: { toString(): string } }) => `blocks/${carol.did}/${b.ref.toString()}`
    assert.equal((await s3.keys(`blocks/${carol.did}/`)).length, 3)

    // The answer to deleteRecord comes after its orphans went.
    await carol.agent.com.atproto.repo.deleteRecord({ repo: carol.did, collection: 'app.bsky.feed.post', rkey: rec.data.uri.split('/').pop()! })
    assert.ok(!(await s3.keys()).includes(key(used.data.blob)), 'the orphan went')

    const swept = await pds.ctx.blobStore.deleteStaleUploads(Date.now() + 2 * 60 * 60 * 1000)
    assert.ok(swept >= 1)
    assert.deepEqual(await s3.keys(`blocks/${carol.did}/`), [key(kept.data.blob)], 'the stale upload went, the used blob stayed')
    assert.notEqual(key(temp.data.blob), key(kept.data.blob))

    const res = await xrpc(pds, 'com.atproto.admin.deleteAccount', { body: { did: carol.did }, headers: { authorization: pds.adminAuth } })
    assert.equal(res.status, 200)
    assert.deepEqual(await s3.keys(`blocks/${carol.did}/`), [], 'every blob of the deleted account went')
  })

  it('answers 502 while the store is down, keeps serving everything else, and recovers', async () => {
    const dave = await createUser(pds)
    const up = await dave.agent.com.atproto.repo.uploadBlob(png(40), { encoding: 'image/png' })
    await dave.agent.com.atproto.repo.createRecord({ repo: dave.did, collection: 'app.bsky.feed.post', record: post('before', up.data.blob) })
    await s3.stop()
    try {
      const failed = await uploadRaw(pds, dave.res.data.accessJwt, png(50), 'image/png')
      assert.equal(failed.status, 502)
      assert.deepEqual(failed.body, { error: 'UpstreamFailure', message: 'Blob storage is unavailable; try again later' })
      const read = await getBlob(pds, dave.did, up.data.blob.ref.toString())
      assert.equal(read.res.status, 502)
      // Records, sessions and the rest do not depend on the blob store.
      const rec = await dave.agent.com.atproto.repo.createRecord({ repo: dave.did, collection: 'app.bsky.feed.post', record: post('while down') })
      assert.ok(rec.data.uri)
      assert.equal(dave.did, (await dave.agent.com.atproto.server.getSession()).data.did)
    } finally {
      await s3.resume()
    }
    const again = await uploadRaw(pds, dave.res.data.accessJwt, png(50), 'image/png')
    assert.equal(again.status, 200)
    const read = await getBlob(pds, dave.did, up.data.blob.ref.toString())
    assert.equal(read.res.status, 200)
  })
})

describe('blobs on S3: wrong credentials', () => {
  it('refuses uploads with a clear 502 and logs what S3 said', async () => {
    const plc = await startPlc()
    const s3 = await startS3()
    const { log, lines } = captureLog('warn')
    const pds = await startPds({
      plcUrl: plc.url,
      log,
      env: { ...s3.env, PDS_BLOBSTORE_S3_ACCESS_KEY_ID: 'NOBODY' },
    })
    try {
      const erin = await createUser(pds)
      const failed = await uploadRaw(pds, erin.res.data.accessJwt, png(60), 'image/png')
      assert.equal(failed.status, 502)
      assert.equal(failed.body.error, 'UpstreamFailure')
      const said = lines.find((l) => l.msg === 'blob store failed')
      assert.match(String(said?.err?.message), /SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/, JSON.stringify(lines))
      assert.deepEqual(await s3.keys(), [], 'nothing stored')
    } finally {
      await pds.destroy()
      await s3.close()
      await plc.close()
    }
  })
})

describe('moving a disk blob store to S3', () => {
  it('copies every blob, resumes without copying twice, and the server then serves them from S3', async () => {
    const plc = await startPlc()
    const s3 = await startS3()
    let pds = await startPds({ plcUrl: plc.url })
    const dataDir = pds.dataDir
    try {
      const frank = await createUser(pds)
      const images = [png(70), png(80), png(90)]
      const refs = []
      for (const image of images) {
        const up = await frank.agent.com.atproto.repo.uploadBlob(image, { encoding: 'image/png' })
        await frank.agent.com.atproto.repo.createRecord({ repo: frank.did, collection: 'app.bsky.feed.post', record: post('p', up.data.blob) })
        refs.push(up.data.blob.ref.toString())
      }
      const backend = await S3BlobBackend.create({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        forcePathStyle: true,
        requestTimeoutMs: 5000,
      })
      const seen: number[] = []
      const first = await migrateBlobsToS3({
        index: pds.ctx.blobs,
        disk: new DiskBlobBackend(dataDir),
        s3: backend,
        onProgress: (p: Readonly<MigrationProgress>) => seen.push(p.done),
      })
      assert.equal(first.total, 3)
      assert.equal(first.copied, 3)
      assert.deepEqual(seen, [1, 2, 3], 'progress after each blob')
      assert.deepEqual(await s3.keys('blocks/'), refs.map((cid) => `blocks/${frank.did}/${cid}`).sort())

      backend.close()

      // The operator's command, next to the running server: a rerun copies nothing twice.
      const run = await runCli('src/admin.ts', ['blobs', 'migrate-to-s3', '--json'], {
        cwd: dataDir,
        env: { PDS_DATA_DIRECTORY: dataDir, PDS_LOG_LEVEL: 'silent', ...s3.env },
        timeoutMs: 30_000,
      })
      assert.equal(run.code, 0, run.stderr)
      const second = JSON.parse(run.stdout) as MigrationProgress
      assert.deepEqual([second.total, second.copied, second.alreadyThere, second.failed.length], [3, 0, 3, 0], 'a rerun copies nothing twice')

      await pds.close()
      pds = await startPds({ plcUrl: plc.url, dataDir, env: s3.env })
      for (const [i, cid] of refs.entries()) {
        const { res, bytes } = await getBlob(pds, frank.did, cid)
        assert.equal(res.status, 200)
        assert.ok(bytes.equals(images[i]))
      }
    } finally {
      await pds.destroy()
      await s3.close()
      await plc.close()
    }
  })
})
