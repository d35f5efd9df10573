// Blob types: uploads are typed by their bytes, and record writes hold blob refs to the stored blob and to their
// lexicon field's accept and maxSize. Real PNG/JPEG bytes, a real server, every refusal leaving no trace.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { TID } from '@atproto/common-web'
import { png } from './helpers/images.ts'
import type { TestPlc } from './helpers/plc.ts'
import { createUser, startServers, stopServers, xrpc, type TestPds } from './helpers/pds.ts'

type User = Awaited<ReturnType<typeof createUser>>
type BlobJson = { $type: 'blob'; ref: { $link: string }; mimeType: string; size: number }

/** The start of a JFIF file: SOI, then an APP0 segment. */
const jpeg = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
  Buffer.from('JFIF\0', 'latin1'),
  Buffer.from([0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xd9]),
])

/** An MP4's first box: `ftyp`, brand isom. */
const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2')])
const vtt = Buffer.from('WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n')

let unknownCounter = 0
/** Bytes no sniffer recognises, different every call (so each upload is a new blob). */
const unknownBytes = () => Buffer.from(`just some words, nothing a sniffer knows (${++unknownCounter})\n`)

const post = (text: string, embed?: unknown) => ({
  $type: 'app.bsky.feed.post',
  text,
  createdAt: new Date().toISOString(),
  ...(embed ? { embed } : {}),
})
const images = (...blobs: BlobJson[]) => ({ $type: 'app.bsky.embed.images', images: blobs.map((image) => ({ alt: '', image })) })
const profile = (avatar: BlobJson) => ({ $type: 'app.bsky.actor.profile', displayName: 'Avatar test', avatar })

describe('blob types', () => {
  let plc: TestPlc
  let pds: TestPds
  let alice: User
  const bearer = (user: User) => ({ authorization: `Bearer ${user.agent.session!.accessJwt}` })

  before(async () => {
    ;({ plc, pds } = await startServers())
    alice = await createUser(pds)
  })
  after(() => stopServers({ plc, pds }))

  /** uploadBlob with exactly this Content-Type header (or none), answering the blob ref JSON. */
  async function upload(user: User, bytes: Uint8Array, contentType?: string): Promise<BlobJson> {
    const res = await fetch(`${pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      headers: { ...bearer(user), ...(contentType === undefined ? {} : { 'content-type': contentType }) },
      body: bytes,
    })
    const body = (await res.json()) as { blob: BlobJson }
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(body.blob.size, bytes.length)
    return body.blob
  }

  const storedType = (user: User, blob: BlobJson) => pds.ctx.blobs.get(user.did, blob.ref.$link)?.mime_type

  /** Use the blob in a record of a lexicon we do not know (no accept list applies), then getBlob it. */
  async function served(user: User, blob: BlobJson): Promise<Response> {
    await user.agent.com.atproto.repo.createRecord({ repo: user.did, collection: 'com.example.attachment', record: { file: blob } })
    return fetch(`${pds.url}/xrpc/com.atproto.sync.getBlob?did=${user.did}&cid=${blob.ref.$link}`)
  }

  describe('uploads are typed by their bytes', () => {
    it('a PNG uploaded as */* is stored and served as image/png', async () => {
      const blob = await upload(alice, png(), '*/*')
      assert.equal(blob.mimeType, 'image/png')
      assert.equal(storedType(alice, blob), 'image/png')
      const res = await served(alice, blob)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'image/png')
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
      assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; sandbox")
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), png())
    })

    it('the bytes win over the declared type: a PNG declared image/jpeg is image/png, a JPEG declared image/png is image/jpeg', async () => {
      const asJpeg = await upload(alice, png(0, 1), 'image/jpeg')
      assert.equal(asJpeg.mimeType, 'image/png')
      assert.equal(storedType(alice, asJpeg), 'image/png')
      const asPng = await upload(alice, jpeg, 'image/png')
      assert.equal(asPng.mimeType, 'image/jpeg')
      assert.equal(storedType(alice, asPng), 'image/jpeg')
    })

    it('bytes that say nothing keep the declared type, without its parameters', async () => {
      const plain = await upload(alice, unknownBytes(), 'text/plain')
      assert.equal(plain.mimeType, 'text/plain')
      const withCharset = await upload(alice, unknownBytes(), 'Text/Plain; charset=utf-8')
      assert.equal(withCharset.mimeType, 'text/plain')
      assert.equal(storedType(alice, withCharset), 'text/plain')
      const res = await served(alice, plain)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type')?.split(';')[0], 'text/plain')
    })

    for (const [label, header] of [
      ['no Content-Type', undefined],
      ['*/*', '*/*'],
      ['image/*', 'image/*'],
      ['a malformed type', 'not a type'],
      ['an empty type', ''],
    ] as const) {
      it(`bytes that say nothing, declared with ${label}, are application/octet-stream`, async () => {
        const blob = await upload(alice, unknownBytes(), header)
        assert.equal(blob.mimeType, 'application/octet-stream')
        assert.equal(storedType(alice, blob), 'application/octet-stream')
      })
    }

    it('getBlob serves application/octet-stream for an untyped blob', async () => {
      const blob = await upload(alice, unknownBytes(), '*/*')
      const res = await served(alice, blob)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'application/octet-stream')
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="${blob.ref.$link}"`)
    })

    it('uploading the same bytes again retypes them until a record uses them, then answers the type in use', async () => {
      const bytes = unknownBytes()
      assert.equal((await upload(alice, bytes, 'text/plain')).mimeType, 'text/plain')
      const retyped = await upload(alice, bytes, 'text/csv')
      assert.equal(retyped.mimeType, 'text/csv')
      assert.equal(storedType(alice, retyped), 'text/csv')
      await served(alice, retyped)
      const again = await upload(alice, bytes, 'text/html')
      assert.equal(again.mimeType, 'text/csv', 'the record refers to it as text/csv')
      assert.equal(storedType(alice, again), 'text/csv')
    })
  })

  describe('record blob refs must match the stored blob and the lexicon', () => {
    let bob: User
    let pngBlob: BlobJson
    let bigPng: BlobJson
    let textBlob: BlobJson
    let untyped: BlobJson

    before(async () => {
      bob = await createUser(pds)
      pngBlob = await upload(bob, png(), 'image/png')
      bigPng = await upload(bob, png(1_200_000), 'image/png')
      textBlob = await upload(bob, unknownBytes(), 'text/plain')
      untyped = await upload(bob, unknownBytes(), '*/*')
      assert.equal(bigPng.mimeType, 'image/png')
      assert.ok(bigPng.size > 1_200_000)
      assert.equal(untyped.mimeType, 'application/octet-stream')
    })

    const createRecord = (collection: string, rkey: string, record: unknown, extra: Record<string, unknown> = {}) => ({
      nsid: 'com.atproto.repo.createRecord',
      body: { repo: bob.did, collection, rkey, record, ...extra },
      path: [collection, rkey] as const,
    })
    const putRecord = (collection: string, rkey: string, record: unknown, extra: Record<string, unknown> = {}) => ({
      nsid: 'com.atproto.repo.putRecord',
      body: { repo: bob.did, collection, rkey, record, ...extra },
      path: [collection, rkey] as const,
    })
    const applyCreate = (collection: string, rkey: string, value: Record<string, unknown>) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection,
      rkey,
      value,
    })

    type Case = [name: string, make: () => { nsid: string; body: Record<string, unknown>; path: readonly [string, string] }, error: string, message: () => string]
    const wrongType = (stored: string, accept: string) => `Wrong type of file. It is ${stored} but it must match ${accept}.`
    const avatarAccept = 'image/png,image/jpeg'
    const cases: Case[] = [
      ['a text blob as avatar (putRecord)', () => putRecord('app.bsky.actor.profile', 'self', profile(textBlob)), 'InvalidMimeType', () => wrongType('text/plain', avatarAccept)],
      ['a 1.2 MB PNG as avatar (putRecord)', () => putRecord('app.bsky.actor.profile', 'self', profile(bigPng)), 'BlobTooLarge', () => 'This file is too large. It is 1.14MB but the maximum size is 976.56KB.'],
      ['an untyped (octet-stream) blob as avatar (createRecord)', () => createRecord('app.bsky.actor.profile', 'self', profile(untyped)), 'InvalidMimeType', () => wrongType('application/octet-stream', avatarAccept)],
      ['an untyped blob relabelled */* as avatar', () => putRecord('app.bsky.actor.profile', 'self', profile({ ...untyped, mimeType: '*/*' })), 'InvalidMimeType', () => `Referenced Mimetype does not match stored blob. Expected: application/octet-stream, Got: */*`],
      ['a text blob relabelled image/png as avatar', () => putRecord('app.bsky.actor.profile', 'self', profile({ ...textBlob, mimeType: 'image/png' })), 'InvalidMimeType', () => 'Referenced Mimetype does not match stored blob. Expected: text/plain, Got: image/png'],
      ['a PNG ref claiming image/jpeg', () => putRecord('app.bsky.actor.profile', 'self', profile({ ...pngBlob, mimeType: 'image/jpeg' })), 'InvalidMimeType', () => 'Referenced Mimetype does not match stored blob. Expected: image/png, Got: image/jpeg'],
      ['a PNG ref with the wrong size', () => putRecord('app.bsky.actor.profile', 'self', profile({ ...pngBlob, size: pngBlob.size + 1 })), 'InvalidSize', () => `Referenced Size does not match stored blob. Expected: ${pngBlob.size}, Got: ${pngBlob.size + 1}`],
      ['a text blob in embed images (image/*)', () => createRecord('app.bsky.feed.post', TID.nextStr(), post('t', images(pngBlob, textBlob))), 'InvalidMimeType', () => wrongType('text/plain', 'image/*')],
      ['a text blob as an embed video (video/mp4)', () => createRecord('app.bsky.feed.post', TID.nextStr(), post('v', { $type: 'app.bsky.embed.video', video: textBlob })), 'InvalidMimeType', () => wrongType('text/plain', 'video/mp4')],
      ['a wrong size with validate: false', () => createRecord('app.bsky.actor.profile', 'self', profile({ ...textBlob, size: 1 }), { validate: false }), 'InvalidSize', () => `Referenced Size does not match stored blob. Expected: ${textBlob.size}, Got: 1`],
      ['a wrong type in an unknown lexicon', () => createRecord('com.example.attachment', TID.nextStr(), { nested: [{ file: { ...textBlob, mimeType: 'image/png' } }] }), 'InvalidMimeType', () => 'Referenced Mimetype does not match stored blob. Expected: text/plain, Got: image/png'],
      ['applyWrites: a good write and a text avatar', () => ({
        nsid: 'com.atproto.repo.applyWrites',
        body: { repo: bob.did, writes: [applyCreate('app.bsky.feed.post', TID.nextStr(), post('fine', images(pngBlob))), applyCreate('app.bsky.actor.profile', 'self', profile(textBlob))] },
        path: ['app.bsky.actor.profile', 'self'] as const,
      }), 'InvalidMimeType', () => wrongType('text/plain', avatarAccept)],
      ['applyWrites: a 1.2 MB avatar after a good write', () => {
        const rkey = TID.nextStr()
        return {
          nsid: 'com.atproto.repo.applyWrites',
          body: { repo: bob.did, writes: [applyCreate('app.bsky.feed.post', rkey, post('fine', images(pngBlob))), { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.actor.profile', rkey: 'self', value: profile(bigPng) }] },
          path: ['app.bsky.feed.post', rkey] as const,
        }
      }, 'BlobTooLarge', () => 'This file is too large. It is 1.14MB but the maximum size is 976.56KB.'],
      ['applyWrites: a wrong size in an unknown lexicon', () => {
        const rkey = TID.nextStr()
        return {
          nsid: 'com.atproto.repo.applyWrites',
          body: { repo: bob.did, writes: [applyCreate('com.example.attachment', rkey, { file: { ...pngBlob, size: 5 } })] },
          path: ['com.example.attachment', rkey] as const,
        }
      }, 'InvalidSize', () => `Referenced Size does not match stored blob. Expected: ${pngBlob.size}, Got: 5`],
    ]

    for (const [name, make, error, message] of cases) {
      it(`refused, changing nothing: ${name}`, async () => {
        const { nsid, body, path } = make()
        const root = pds.ctx.repo.root(bob.did)!
        const seq = pds.ctx.sequencer.latestSeq()
        const res = await xrpc(pds, nsid, { body, headers: bearer(bob) })
        assert.equal(res.status, 400, JSON.stringify(res.body))
        assert.equal(res.body.error, error, JSON.stringify(res.body))
        assert.equal(res.body.message, message())
        const now = pds.ctx.repo.root(bob.did)!
        assert.equal(now.cid.toString(), root.cid.toString(), 'root unchanged')
        assert.equal(now.rev, root.rev, 'rev unchanged')
        assert.equal(pds.ctx.sequencer.latestSeq(), seq, 'nothing sequenced')
        assert.equal(pds.ctx.repo.readRecord(bob.did, path[0], path[1]), null, 'record absent')
      })
    }

    it('accepts a PNG avatar (putRecord), PNGs in embed images (image/*), and an MP4 with WebVTT captions', async () => {
      const put = await bob.agent.com.atproto.repo.putRecord({ repo: bob.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: profile(pngBlob) })
      assert.equal(put.data.validationStatus, 'valid')
      const got = await bob.agent.com.atproto.repo.getRecord({ repo: bob.did, collection: 'app.bsky.actor.profile', rkey: 'self' })
      assert.equal((got.data.value as any).avatar.ref.toString(), pngBlob.ref.$link)
      const created = await bob.agent.com.atproto.repo.createRecord({ repo: bob.did, collection: 'app.bsky.feed.post', record: post('pics', images(pngBlob, bigPng)) })
      assert.equal(created.data.validationStatus, 'valid')
      assert.ok(pds.ctx.blobs.isReferenced(bob.did, bigPng.ref.$link))
      const video = await upload(bob, mp4, 'application/octet-stream')
      const captions = await upload(bob, vtt, 'text/plain')
      assert.deepEqual([video.mimeType, captions.mimeType], ['video/mp4', 'text/vtt'])
      const withVideo = await bob.agent.com.atproto.repo.createRecord({
        repo: bob.did,
        collection: 'app.bsky.feed.post',
        record: post('clip', { $type: 'app.bsky.embed.video', video, captions: [{ lang: 'en', file: captions }] }),
      })
      assert.equal(withVideo.data.validationStatus, 'valid')
    })

    it('with validate: false or an unknown lexicon only the stored blob counts: a text avatar is taken', async () => {
      const carol = await createUser(pds)
      const text = await upload(carol, unknownBytes(), 'text/plain')
      const put = await carol.agent.com.atproto.repo.putRecord({ repo: carol.did, collection: 'app.bsky.actor.profile', rkey: 'self', record: profile(text), validate: false })
      assert.equal(put.data.validationStatus, undefined)
      const other = await carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: 'com.example.attachment', record: { file: text } })
      assert.equal(other.data.validationStatus, 'unknown')
      assert.ok(pds.ctx.blobs.isReferenced(carol.did, text.ref.$link))
    })

    it('applyWrites takes a batch whose refs all fit', async () => {
      const rkey = TID.nextStr()
      const res = await bob.agent.com.atproto.repo.applyWrites({
        repo: bob.did,
        writes: [
          applyCreate('app.bsky.feed.post', rkey, post('batch', images(pngBlob))),
          { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.actor.profile', rkey: 'self', value: { ...profile(pngBlob), banner: pngBlob } },
        ],
      })
      assert.deepEqual(res.data.results?.map((r) => r.$type), ['com.atproto.repo.applyWrites#createResult', 'com.atproto.repo.applyWrites#updateResult'])
      assert.ok(pds.ctx.repo.readRecord(bob.did, 'app.bsky.feed.post', rkey))
    })
  })
})
