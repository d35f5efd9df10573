// Moving an account here (issue 13 part 3), between two real Aurora servers on one real PLC directory: the old PDS
// vouches with a service JWT, createAccount takes the DID, importRepo streams the old repo in, the blobs follow,
// a PLC operation moves the DID, activateAccount announces it. Then the new PDS serves the same records and blobs, the
// firehose carries #account, #identity and #sync, and the next #commit verifies with @atproto/sync. Every refusal on
// the way (service JWTs, CARs of every broken kind, an active account) changes nothing.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import { Agent } from '@atproto/api'
import { Secp256k1Keypair } from '@atproto/crypto'
import { IdResolver } from '@atproto/identity'
import { readCarWithRoot, verifyCommitSig, verifyRepo } from '@atproto/repo'
import { parseCommitAuthenticated } from '@atproto/sync'
import { createServiceJwt } from '@atproto/xrpc-server'
import * as plcLib from '@did-plc/lib'
import * as cbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { blockFrame, varint, type CarBlock } from '../src/protocol/car.ts'
import { repoImports } from '../src/repo/repo-import.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { captureLog } from './helpers/log-capture.ts'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, startPds, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'
import { checkCommitEvent, signingDidKey } from './helpers/repo-check.ts'

type User = Awaited<ReturnType<typeof createUser>>

const CAR = 'application/vnd.ipld.car'
const CREATE_ACCOUNT = 'com.atproto.server.createAccount'
const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
/** Bytes that sniff as PNG (uploads are typed by their first bytes). */
const png = (n: number) => Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(n)])
const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })

describe('migration in: an account moves from one Aurora to another', () => {
  let plc: TestPlc
  let oldPds: TestPds
  let newPds: TestPds
  /** The new PDS's DID: the audience of the old PDS's service JWTs. */
  let newDid: string
  let bob: User
  const { log, lines, awaitLine } = captureLog()

  before(async () => {
    plc = await startPlc()
    oldPds = await startPds({ plcUrl: plc.url })
    newPds = await startPds({ plcUrl: plc.url, log })
    newDid = (await newPds.agent().com.atproto.server.describeServer()).data.did
    bob = await createUser(oldPds)
  })
  after(async () => {
    await oldPds?.destroy()
    await newPds?.destroy()
    await plc?.close()
  })

  /** An account on the old PDS with posts (one with an image), a profile with an avatar and a follow. */
  async function userWithContent(): Promise<User & { blobs: Map<string, Buffer> }> {
    const user = await createUser(oldPds)
    const blobs = new Map<string, Buffer>()
    const upload = async (bytes: Buffer) => {
      const res = await user.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'image/png' })
      blobs.set(res.data.blob.ref.toString(), bytes)
      return res.data.blob
    }
    const avatar = await upload(png(3000))
    await user.agent.com.atproto.repo.putRecord({
      repo: user.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: { $type: 'app.bsky.actor.profile', displayName: 'Moving', avatar },
    })
    for (let i = 0; i < 5; i++) {
      await user.agent.com.atproto.repo.createRecord({ repo: user.did, collection: 'app.bsky.feed.post', record: post(`post ${i}`) })
    }
    const image = await upload(png(5000))
    await user.agent.com.atproto.repo.createRecord({
      repo: user.did,
      collection: 'app.bsky.feed.post',
      record: { ...post('with an image'), embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'noise', image }] } },
    })
    await user.agent.com.atproto.repo.createRecord({
      repo: user.did,
      collection: 'app.bsky.graph.follow',
      record: { $type: 'app.bsky.graph.follow', subject: bob.did, createdAt: new Date().toISOString() },
    })
    return { ...user, blobs }
  }

  /** A service JWT from the old PDS for `user`, by default for our createAccount (null: for any method). */
  async function serviceJwt(user: User, aud = newDid, lxm: string | null = CREATE_ACCOUNT): Promise<string> {
    return (await user.agent.com.atproto.server.getServiceAuth({ aud, lxm: lxm ?? undefined })).data.token
  }

  /** createAccount on the new PDS for `user`'s DID with `headers` (a service JWT); raw, for refusals. */
  function createMigrated(user: User, headers: Record<string, string>, handle = uniqueHandle('moved')) {
    return xrpc(newPds, CREATE_ACCOUNT, {
      body: { handle, email: `new-${user.email}`, password: user.password, did: user.did },
      headers,
    })
  }

  /**
   * Create `user`'s account on the new PDS (deactivated), and a client of the new PDS with its session. (Not AtpAgent's
   * login: it follows the session's DID document, which names the old PDS until the DID moves.)
   */
  async function arrive(user: User): Promise<{ agent: Agent; jwt: string }> {
    const res = await createMigrated(user, bearer(await serviceJwt(user)))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const jwt = res.body.accessJwt as string
    return { agent: new Agent({ service: newPds.url, headers: bearer(jwt) }), jwt }
  }

  /** The old PDS's CAR of `did`: the streamed response. */
  async function exportRepo(did: string): Promise<Response> {
    const res = await fetch(`${oldPds.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`)
    assert.equal(res.status, 200)
    return res
  }

  /** POST a CAR (bytes or a stream, sent chunked) to the new PDS's importRepo. */
  async function importCar(jwt: string, body: Uint8Array | ReadableStream<Uint8Array> | null, headers: Record<string, string> = {}) {
    const res = await fetch(`${newPds.url}/xrpc/com.atproto.repo.importRepo`, {
      method: 'POST',
      headers: { 'content-type': CAR, ...bearer(jwt), ...headers },
      body,
      duplex: 'half',
    } as RequestInit)
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

  /** What the new PDS holds for `did`, and what imports left staged (always nothing once a request is answered). */
  function state(did: string) {
    const count = (sql: string, ...args: unknown[]) => newPds.db.prepare(sql).pluck().get(...args) as number
    return {
      root: newPds.ctx.repo.root(did)?.cid.toString(),
      blocks: newPds.ctx.repo.blockCount(did),
      records: newPds.ctx.records.count(did),
      blobLinks: count('SELECT count(*) FROM record_blob WHERE did = ?', did),
      staged:
        count('SELECT count(*) FROM repo_import_block') +
        count('SELECT count(*) FROM repo_import_record') +
        count('SELECT count(*) FROM repo_import_blob'),
    }
  }

  /** Every record of `did` on `pds`, collection by collection: uri → cid. */
  async function recordCids(pds: TestPds, did: string): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    const { collections } = (await pds.agent().com.atproto.repo.describeRepo({ repo: did })).data
    for (const collection of collections) {
      const list = await pds.agent().com.atproto.repo.listRecords({ repo: did, collection, limit: 100 })
      for (const r of list.data.records) out.set(r.uri, r.cid)
    }
    return out
  }

  /** Move `did`'s DID document to the new PDS: our endpoint, our signing key, our rotation key; signed by the old PDS. */
  async function movePlcToNew(did: string, handle: string): Promise<void> {
    const client = new plcLib.Client(plc.url)
    const oldRotation = await Secp256k1Keypair.import(oldPds.ctx.cfg.secrets.plcRotationKeyHex)
    const newRotation = await Secp256k1Keypair.import(newPds.ctx.cfg.secrets.plcRotationKeyHex)
    const newSigning = await Secp256k1Keypair.import(newPds.ctx.accounts.store.byDid(did)!.signing_key_hex)
    const last = (await client.getLastOp(did)) as plcLib.Operation
    const signer = oldRotation as unknown as Parameters<typeof plcLib.createUpdateOp>[1]
    const op = await plcLib.createUpdateOp(last, signer, (normalized) => ({
      ...normalized,
      rotationKeys: [newRotation.did()],
      verificationMethods: { atproto: newSigning.did() },
      alsoKnownAs: [`at://${handle}`],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: newPds.url } },
    }))
    await client.sendOperation(did, op)
  }

  /** Resolves with the end of the next import of `did` (subscribe before starting it). */
  function importEnd(did: string): Promise<{ ok: boolean; error?: Error }> {
    return new Promise((resolve) => {
      const listener = (info: { did: string; ok: boolean; error?: Error }) => {
        if (info.did !== did) return
        repoImports.off('end', listener)
        resolve(info)
      }
      repoImports.on('end', listener)
    })
  }

  it('createAccount with did takes only a service JWT of that DID, for us and this method, unexpired and signed by its key', async () => {
    const carol = await createUser(oldPds)
    const accounts = newPds.ctx.accounts.store.count()
    const seq = newPds.ctx.sequencer.lastAssignedSeq()
    const stranger = await Secp256k1Keypair.create()
    const nowS = Math.floor(Date.now() / 1000)
    const forged = (claims: { exp?: number; keypair?: Secp256k1Keypair }) =>
      createServiceJwt({ iss: carol.did, aud: newDid, lxm: CREATE_ACCOUNT, keypair: stranger, ...claims })

    const cases: [string, Record<string, string>, string, RegExp][] = [
      ['no token', {}, 'AuthenticationRequired', /Missing auth to create account with did/],
      ['another audience', bearer(await serviceJwt(carol, 'did:web:elsewhere.example.com')), 'BadJwtAudience', /audience/],
      ['another method', bearer(await serviceJwt(carol, newDid, 'com.atproto.repo.createRecord')), 'BadJwtLexiconMethod', /lexicon method/],
      ['no method', bearer(await serviceJwt(carol, newDid, null)), 'BadJwtLexiconMethod', /missing jwt lexicon method/],
      ['another issuer', bearer(await serviceJwt(bob)), 'AuthenticationRequired', /Missing auth to create account with did/],
      ['expired', bearer(await forged({ exp: nowS - 10 })), 'JwtExpired', /expired/],
      ['not signed by the DID key', bearer(await forged({})), 'BadJwtSignature', /signature/],
      ['a session token', bearer(carol.agent.session!.accessJwt), 'BadJwtType', /jwt type/],
      ['not a JWT', bearer('not-a-jwt'), 'BadJwt', /poorly formatted/],
      ['not JSON inside', bearer('e30.bm90IGpzb24.c2ln'), 'BadJwt', /poorly formatted/],
    ]
    for (const [what, headers, error, message] of cases) {
      const res = await createMigrated(carol, headers)
      assert.equal(res.status, 401, `${what}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.error, error, what)
      assert.match(res.body.message, message, what)
    }
    assert.equal(newPds.ctx.accounts.store.byDid(carol.did), undefined)
    assert.equal(newPds.ctx.accounts.store.count(), accounts)
    assert.equal(newPds.ctx.sequencer.lastAssignedSeq(), seq, 'nothing sequenced')

    // The right token: the account exists, deactivated, with an empty repo and not a word to the firehose.
    const handle = uniqueHandle('moved')
    const ok = await createMigrated(carol, bearer(await serviceJwt(carol)), handle)
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(ok.body.did, carol.did)
    assert.equal(ok.body.handle, handle)
    assert.ok(ok.body.accessJwt && ok.body.refreshJwt)
    assert.equal(ok.body.didDoc.id, carol.did, 'the DID document as it is now')
    const row = newPds.ctx.accounts.store.byDid(carol.did)!
    assert.ok(row.deactivated_at, 'created deactivated')
    const newKey = await Secp256k1Keypair.import(row.signing_key_hex)
    assert.notEqual(newKey.did(), await signingDidKey(oldPds, carol.did), 'a signing key of our own')
    assert.equal(newPds.ctx.sequencer.lastAssignedSeq(), seq, 'nothing sequenced')
    assert.equal(plc.dids().filter((d) => d === carol.did).length, 1, 'no new DID registered')
    // Only once.
    const again = await createMigrated(carol, bearer(await serviceJwt(carol)))
    assert.equal(again.status, 400)
    assert.match(again.body.message, /already exists/)
    // A service JWT without `did` is an ordinary signup, as in the reference: a new DID, active.
    const signup = await xrpc(newPds, CREATE_ACCOUNT, {
      body: { handle: uniqueHandle('fresh'), email: `fresh-${carol.email}`, password: 'pw-fresh' },
      headers: bearer(await serviceJwt(carol)),
    })
    assert.equal(signup.status, 200)
    assert.notEqual(signup.body.did, carol.did)
    assert.equal(newPds.ctx.accounts.store.byDid(signup.body.did)!.deactivated_at, null)
  })

  it('the official sequence: getServiceAuth → createAccount → getRepo → importRepo (streamed) → blobs → PLC → activateAccount', async () => {
    const alice = await userWithContent()
    const firehose = await FirehoseClient.connect(newPds, { cursor: newPds.ctx.sequencer.lastAssignedSeq() })
    try {
      const { agent: newAgent, jwt } = await arrive(alice)
      const fresh = (await newAgent.com.atproto.server.checkAccountStatus()).data
      assert.equal(fresh.activated, false)
      assert.equal(fresh.validDid, false, 'the DID document still names the old PDS')
      assert.equal(fresh.indexedRecords, 0)

      // The old PDS's CAR goes straight into the new one, chunk by chunk.
      const oldHead = (await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })).data
      const exported = await exportRepo(alice.did)
      const imported = await importCar(jwt, exported.body)
      assert.equal(imported.status, 200, JSON.stringify(imported.body))
      const done = lines.find((l) => l.msg === 'repo import: done' && l.did === alice.did)
      assert.ok(done, 'the import logs its result')
      assert.equal(done.commit, oldHead.cid)
      assert.equal(done.records, 8)

      const oldRecords = await recordCids(oldPds, alice.did)
      const status = (await newAgent.com.atproto.server.checkAccountStatus()).data
      assert.equal(status.repoCommit, oldHead.cid, 'the old head as it was')
      assert.equal(status.repoRev, oldHead.rev)
      assert.equal(status.indexedRecords, oldRecords.size)
      assert.equal(status.expectedBlobs, 2)
      assert.equal(status.importedBlobs, 0)
      assert.equal(status.activated, false)

      // The blobs the records use: listed as missing, fetched from the old PDS, uploaded.
      const missing = (await newAgent.com.atproto.repo.listMissingBlobs({})).data.blobs
      assert.deepEqual(missing.map((b) => b.cid).sort(), [...alice.blobs.keys()].sort())
      for (const { cid, recordUri } of missing) {
        assert.ok(oldRecords.has(recordUri), 'each with a record that uses it')
        const got = await alice.agent.com.atproto.sync.getBlob({ did: alice.did, cid })
        const up = await newAgent.com.atproto.repo.uploadBlob(got.data, { encoding: got.headers['content-type'] })
        assert.equal(up.data.blob.ref.toString(), cid)
      }
      assert.deepEqual((await newAgent.com.atproto.repo.listMissingBlobs({})).data.blobs, [])
      const complete = (await newAgent.com.atproto.server.checkAccountStatus()).data
      assert.equal(complete.importedBlobs, complete.expectedBlobs)

      // Until now the firehose has said nothing of the account.
      assert.deepEqual(firehose.events.filter((f) => (f.body.did ?? f.body.repo) === alice.did), [])

      // Activating before the DID document points here is refused.
      const early = await xrpc(newPds, 'com.atproto.server.activateAccount', { method: 'POST', headers: bearer(jwt) })
      assert.equal(early.status, 400)
      assert.match(early.body.message, /rotation key|service endpoint/)

      const handle = newPds.ctx.accounts.store.byDid(alice.did)!.handle
      await movePlcToNew(alice.did, handle)
      assert.equal((await newAgent.com.atproto.server.checkAccountStatus()).data.validDid, true)
      const seqBefore = newPds.ctx.sequencer.lastAssignedSeq()
      await newAgent.com.atproto.server.activateAccount()
      await alice.agent.com.atproto.server.deactivateAccount({})

      // #account active, #identity, #sync: the reference's order.
      await firehose.untilSeq(seqBefore + 3)
      const announced = firehose.events.filter((f) => f.body.seq > seqBefore)
      assert.deepEqual(announced.map((f) => f.header.t), ['#account', '#identity', '#sync'])
      const [account, identity, sync] = announced.map((f) => f.body)
      assert.deepEqual([account.did, account.active, account.status], [alice.did, true, undefined])
      assert.deepEqual([identity.did, identity.handle], [alice.did, handle])
      // The #sync commit: the imported tree, re-signed with our key (which the DID document now names), newer rev.
      const syncCar = await readCarWithRoot(sync.blocks)
      const syncCommit = cbor.decode(syncCar.blocks.get(syncCar.root)!) as any
      assert.equal(syncCommit.did, alice.did)
      assert.equal(syncCommit.rev, sync.rev)
      assert.ok(sync.rev > oldHead.rev, 'a rev after everything the old PDS announced')
      const newKey = await signingDidKey(newPds, alice.did)
      assert.ok(await verifyCommitSig(syncCommit, newKey), '#sync commit verifies against the DID document')
      const head = newPds.ctx.repo.root(alice.did)!
      assert.ok(head.cid.equals(syncCar.root), 'the #sync names the head')

      // Every record and blob served by the new PDS, with the same CIDs; the whole repo verifies.
      assert.deepEqual(await recordCids(newPds, alice.did), oldRecords)
      const car = await fetch(`${newPds.url}/xrpc/com.atproto.sync.getRepo?did=${alice.did}`)
      const repoCar = await readCarWithRoot(new Uint8Array(await car.arrayBuffer()))
      const verified = await verifyRepo(repoCar.blocks, repoCar.root, alice.did, newKey)
      assert.equal(verified.creates.length, oldRecords.size)
      for (const c of verified.creates) {
        assert.equal(oldRecords.get(`at://${alice.did}/${c.collection}/${c.rkey}`), c.cid.toString())
      }
      for (const [cid, bytes] of alice.blobs) {
        const got = await newAgent.com.atproto.sync.getBlob({ did: alice.did, cid })
        assert.deepEqual(Buffer.from(got.data), bytes)
      }

      // The next write's #commit follows the #sync and verifies as relays verify it.
      const write = await newAgent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: post('hello from here') })
      await firehose.untilSeq(seqBefore + 4)
      const commit = firehose.events.find((f) => f.body.seq === seqBefore + 4)!
      assert.equal(commit.header.t, '#commit')
      assert.equal(commit.body.since, sync.rev)
      assert.ok(commit.body.prevData.equals(syncCommit.data), 'prevData is the imported tree')
      await checkCommitEvent(commit.body, newKey)
      const idResolver = new IdResolver({ plcUrl: plc.url, fetch: globalThis.fetch })
      const parsed = await parseCommitAuthenticated(idResolver, commit.body as never)
      assert.deepEqual(parsed.map((e) => [e.event, e.uri.toString()]), [['create', write.data.uri]])
    } finally {
      firehose.close()
    }
  })

  describe('importRepo refusals', () => {
    let carol: Awaited<ReturnType<typeof userWithContent>>
    let jwt: string
    /** Carol's CAR from the old PDS, as bytes. */
    let good: Uint8Array

    before(async () => {
      carol = await userWithContent()
      ;({ jwt } = await arrive(carol))
      good = new Uint8Array(await (await exportRepo(carol.did)).arrayBuffer())
      const res = await importCar(jwt, good)
      assert.equal(res.status, 200, JSON.stringify(res.body))
    })

    /** A CAR with `root` and `blocks`, which may be anything (two roots, bytes that do not match their CID). */
    function car(roots: CID[], blocks: CarBlock[]): Uint8Array {
      const header = cbor.encode({ version: 1, roots })
      return Buffer.concat([varint(header.length), header, ...blocks.flatMap((b) => blockFrame(b))])
    }

    async function goodParts() {
      const parsed = await readCarWithRoot(good)
      const blocks = [...parsed.blocks].map(([cid, bytes]) => ({ cid: CID.asCID(cid)!, bytes }))
      const commit = cbor.decode(parsed.blocks.get(parsed.root)!) as { data: CID; sig: Uint8Array }
      return { root: CID.asCID(parsed.root)!, blocks, commit }
    }

    it('bad CARs of every kind: a clear 400, and nothing changes', async () => {
      const { root, blocks, commit } = await goodParts()
      const without = (cid: CID) => blocks.filter((b) => !b.cid.equals(cid))
      // The signature of the commit, one bit off: a new commit block and CID.
      const forgedBytes = cbor.encode({ ...commit, sig: Uint8Array.from(commit.sig, (b, i) => (i === 0 ? b ^ 1 : b)) })
      const forgedCid = CID.createV1(cbor.code, await sha256.digest(forgedBytes))
      const recordCid = CID.parse([...(await recordCids(oldPds, carol.did)).values()][0])
      const bobCar = new Uint8Array(await (await exportRepo(bob.did)).arrayBuffer())

      const cases: [string, Uint8Array, RegExp][] = [
        ['garbage', randomBytes(3000), /CAR/],
        ['an empty body', new Uint8Array(0), /The CAR is empty/],
        ['a truncated CAR', good.subarray(0, good.length - 100), /truncated/],
        ['a bad commit signature', car([forgedCid], [{ cid: forgedCid, bytes: forgedBytes }, ...without(root)]), /Invalid signature on commit/],
        ['the repo of another DID', bobCar, /Invalid repo did/],
        ['a missing record block', car([root], without(recordCid)), /missing block/],
        ['a missing MST node', car([root], without(commit.data)), /missing block/],
        ['no commit block', car([root], without(root)), /lacks its root block/],
        ['two roots', car([root, recordCid], blocks), /expected one root/],
        ['a block whose bytes are not its CID', car([root], [...without(recordCid), { cid: recordCid, bytes: cbor.encode({ text: 'swapped' }) }]), /do not match its CID/],
      ]
      const before = state(carol.did)
      assert.equal(before.staged, 0)
      for (const [what, body, message] of cases) {
        const res = await importCar(jwt, body)
        assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`)
        assert.equal(res.body.error, 'InvalidRequest', what)
        assert.match(res.body.message, message, what)
        assert.deepEqual(state(carol.did), before, `${what}: nothing changed, nothing left staged`)
      }

      const encodings: [string, Record<string, string>, Uint8Array, RegExp][] = [
        ['another Content-Type', { 'content-type': 'application/json' }, good, /Wrong request encoding/],
        ['a Content-Encoding we do not know', { 'content-encoding': 'zstd' }, good, /Unsupported Content-Encoding/],
        ['gzip that is not', { 'content-encoding': 'gzip' }, good, /decode/],
      ]
      for (const [what, headers, body, message] of encodings) {
        const res = await importCar(jwt, body, headers)
        assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`)
        assert.match(res.body.message, message, what)
        assert.deepEqual(state(carol.did), before, what)
      }
      const noBody = await xrpc(newPds, 'com.atproto.repo.importRepo', { method: 'POST', headers: bearer(jwt) })
      assert.equal(noBody.status, 400)
      assert.deepEqual(state(carol.did), before)
    })

    it('a client that hangs up mid-upload: nothing changes', async () => {
      const before = state(carol.did)
      const ended = importEnd(carol.did)
      const from = lines.length
      const req = http.request(`${newPds.url}/xrpc/com.atproto.repo.importRepo`, {
        method: 'POST',
        headers: { 'content-type': CAR, ...bearer(jwt), 'transfer-encoding': 'chunked' },
      })
      req.on('error', () => {})
      req.write(good.subarray(0, Math.floor(good.length / 2)))
      // Gone once the import is reading: the server sees a body that stops.
      await awaitLine((l) => l.msg === 'repo import: receiving the CAR' && l.did === carol.did, from)
      req.destroy()
      const end = await ended
      assert.equal(end.ok, false)
      assert.deepEqual(state(carol.did), before)
    })

    it('a second import of a newer CAR (gzip-encoded) replaces the repo', async () => {
      const { data: first } = await carol.agent.com.atproto.repo.listRecords({ repo: carol.did, collection: 'app.bsky.feed.post' })
      const plain = first.records.find((r) => !(r.value as { embed?: unknown }).embed)!
      await carol.agent.com.atproto.repo.deleteRecord({ repo: carol.did, collection: 'app.bsky.feed.post', rkey: plain.uri.split('/').pop()! })
      await carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: 'app.bsky.feed.post', record: post('written later') })
      await carol.agent.com.atproto.repo.putRecord({
        repo: carol.did,
        collection: 'app.bsky.actor.profile',
        rkey: 'self',
        record: { $type: 'app.bsky.actor.profile', displayName: 'Renamed' },
      })
      const head = (await carol.agent.com.atproto.sync.getLatestCommit({ did: carol.did })).data
      const newer = new Uint8Array(await (await exportRepo(carol.did)).arrayBuffer())
      const res = await importCar(jwt, gzipSync(newer), { 'content-encoding': 'gzip' })
      assert.equal(res.status, 200, JSON.stringify(res.body))

      const after = state(carol.did)
      assert.equal(after.root, head.cid)
      assert.equal(after.staged, 0)
      const stored = newPds.db.prepare('SELECT uri, cid, rev FROM record WHERE did = ?').all(carol.did) as { uri: string; cid: string; rev: string }[]
      assert.deepEqual(new Map(stored.map((r) => [r.uri, r.cid])), await recordCids(oldPds, carol.did))
      assert.ok(stored.every((r) => r.rev === head.rev), 'records carry the imported rev')
      assert.equal(after.blobLinks, 1, 'the avatar went with the profile change; the post image stays')
      const status = await xrpc(newPds, 'com.atproto.server.checkAccountStatus', { headers: bearer(jwt) })
      assert.equal(status.body.repoCommit, head.cid)
      assert.equal(status.body.indexedRecords, stored.length)
      assert.equal(status.body.expectedBlobs, 1)
    })

    it('importRepo on an account active here is refused, and changes nothing', async () => {
      const dave = await createUser(newPds)
      await dave.agent.com.atproto.repo.createRecord({ repo: dave.did, collection: 'app.bsky.feed.post', record: post('mine') })
      const before = state(dave.did)
      const res = await importCar(dave.agent.session!.accessJwt, good)
      assert.equal(res.status, 400)
      assert.match(res.body.message, /Account is active/)
      assert.deepEqual(state(dave.did), before)
      // App passwords may not replace a repo (a real login only, as the reference).
      const app = await dave.agent.com.atproto.server.createAppPassword({ name: 'app' })
      const appAgent = newPds.agent()
      await appAgent.login({ identifier: dave.handle, password: app.data.password })
      const byApp = await importCar(appAgent.session!.accessJwt, good)
      assert.equal(byApp.status, 400)
      assert.equal(byApp.body.error, 'InvalidToken')
    })
  })

  describe('importRepo limits', () => {
    let small: TestPds
    let closed: TestPds
    before(async () => {
      small = await startPds({ plcUrl: plc.url, env: { PDS_MAX_REPO_IMPORT_SIZE: '2000' } })
      closed = await startPds({ plcUrl: plc.url, env: { PDS_ACCEPTING_REPO_IMPORTS: 'false' } })
    })
    after(async () => {
      await small?.destroy()
      await closed?.destroy()
    })

    /** `user`'s account on `pds`, made with a service JWT for it; its access token. */
    async function arriveAt(pds: TestPds, user: User): Promise<string> {
      const aud = (await pds.agent().com.atproto.server.describeServer()).data.did
      const res = await xrpc(pds, CREATE_ACCOUNT, {
        body: { handle: uniqueHandle('moved'), email: `lim-${user.email}`, password: user.password, did: user.did },
        headers: bearer(await serviceJwt(user, aud)),
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return res.body.accessJwt
    }

    it('PDS_MAX_REPO_IMPORT_SIZE: larger CARs get 413, whether announced or streamed', async () => {
      const erin = await userWithContent()
      const token = await arriveAt(small, erin)
      const bytes = new Uint8Array(await (await exportRepo(erin.did)).arrayBuffer())
      assert.ok(bytes.length > 2000)
      const root = small.ctx.repo.root(erin.did)!.cid.toString()
      const send = (body: Uint8Array | ReadableStream<Uint8Array>) =>
        fetch(`${small.url}/xrpc/com.atproto.repo.importRepo`, {
          method: 'POST',
          headers: { 'content-type': CAR, ...bearer(token) },
          body,
          duplex: 'half',
        } as RequestInit)
      const announced = await send(bytes)
      assert.equal(announced.status, 413)
      assert.equal(((await announced.json()) as { error: string }).error, 'PayloadTooLarge')
      const streamed = await send(new Blob([bytes]).stream())
      assert.equal(streamed.status, 413)
      assert.equal(small.ctx.repo.root(erin.did)!.cid.toString(), root)
      assert.equal(small.ctx.records.count(erin.did), 0)
    })

    it('PDS_ACCEPTING_REPO_IMPORTS=false: refused as the reference words it', async () => {
      const frank = await createUser(oldPds)
      const token = await arriveAt(closed, frank)
      const res = await xrpc(closed, 'com.atproto.repo.importRepo', {
        rawBody: 'x',
        headers: { ...bearer(token), 'content-type': CAR },
      })
      assert.equal(res.status, 400)
      assert.equal(res.body.message, 'Service is not accepting repo imports')
    })
  })
})
