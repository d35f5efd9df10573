// Handle changes (com.atproto.identity.updateHandle) against a real PLC directory, and resolveDid / resolveIdentity /
// refreshIdentity. External handles are served by a local web server standing in for the handles' sites: the PDS
// reaches it through PDS_DEV_WELL_KNOWN_ORIGIN (the Host header names the handle), and the test's own @atproto/identity
// resolver reaches it (and the PDS, for service-domain handles) the same way.
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Secp256k1Keypair } from '@atproto/crypto'
import { IdResolver } from '@atproto/identity'
import * as plc from '@did-plc/lib'
import { IdentityResolver } from '../src/identity/resolver.ts'
import { FirehoseClient } from './helpers/firehose-client.ts'
import { startPlc, startPlcGate, type PlcGate, type TestPlc } from './helpers/plc.ts'
import { createUser, getWithHost, startPds, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'
import { events } from './helpers/repo-check.ts'

type User = Awaited<ReturnType<typeof createUser>>
const bearer = (user: User) => ({ authorization: `Bearer ${user.agent.session!.accessJwt}` })

let extCounter = 0
/** A handle outside the service domain (.test), under a name no DNS answers for. */
const externalHandle = () => `ext${process.pid % 10000}x${++extCounter}.aurora-handles.example.com`

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  })
}

/** The handles' web sites: `/.well-known/atproto-did` by Host header, from a map a test fills. */
async function startSites() {
  const dids = new Map<string, string>()
  const server = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '')
    const did = req.url === '/.well-known/atproto-did' ? dids.get(host) : undefined
    if (did) res.writeHead(200, { 'content-type': 'text/plain' }).end(did)
    else res.writeHead(404).end('not found')
  })
  const url = await listen(server)
  return { url, dids, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

/** @atproto/identity as any other service would use it, reaching handles' sites by Host header. */
function outsideResolver(plcUrl: string, pds: TestPds, sites: { url: string }): IdResolver {
  const wellKnownByHost: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (url.pathname !== '/.well-known/atproto-did') return fetch(input, init)
    const site = url.hostname.endsWith('.test') ? pds : sites
    const res = await getWithHost(site, url.pathname, url.hostname)
    return new Response(res.body, { status: res.status })
  }
  return new IdResolver({ plcUrl, fetch: wellKnownByHost })
}

// One real directory (behind a switchable gate), the handles' sites, and a PDS using both, for the whole file.
let plcDir: TestPlc
let gate: PlcGate
let sites: Awaited<ReturnType<typeof startSites>>
let pds: TestPds
let directory: plc.Client

before(async () => {
  plcDir = await startPlc()
  gate = await startPlcGate(plcDir.url)
  sites = await startSites()
  pds = await startPds({ plcUrl: gate.url, env: { PDS_DEV_WELL_KNOWN_ORIGIN: sites.url } })
  directory = new plc.Client(plcDir.url)
})
after(async () => {
  await pds?.destroy()
  await sites?.close()
  await gate?.close()
  await plcDir?.close()
})

describe('updateHandle', () => {
  let firehose: FirehoseClient

  before(async () => {
    firehose = await FirehoseClient.connect(pds)
  })
  after(() => firehose?.close())

  const updateHandle = (user: User, handle: string) =>
    xrpc(pds, 'com.atproto.identity.updateHandle', { body: { handle }, headers: bearer(user) })

  /** Wait (bounded) for the live firehose to show `#identity` for `did` with `handle`; returns its seq. */
  async function identityEvent(did: string, handle: string, afterSeq = 0): Promise<number> {
    const match = () =>
      firehose.events.find((f) => f.header.t === '#identity' && f.body.did === did && f.body.handle === handle && f.body.seq > afterSeq)
    await firehose.until(() => match() !== undefined, `#identity ${did} ${handle}`)
    return match()!.body.seq
  }

  /** What a refused change must leave alone: the directory's log, the account row, the event log. */
  async function snapshot(user: { did: string }) {
    return {
      plcLog: (await directory.getOperationLog(user.did)).length,
      handle: pds.ctx.accounts.store.byDid(user.did)!.handle,
      seq: pds.ctx.sequencer.latestSeq(),
    }
  }
  async function assertUnchanged(user: { did: string }, before: Awaited<ReturnType<typeof snapshot>>) {
    assert.deepEqual(await snapshot(user), before)
    assert.deepEqual(events(pds, before.seq), [], 'nothing sequenced, so nothing for the firehose')
  }

  it('moves an account to another service-domain handle: PLC document, both-way resolution, firehose, sessions', async () => {
    const alice = await createUser(pds)
    const before = await directory.getDocumentData(alice.did)
    const logBefore = (await directory.getOperationLog(alice.did)).length
    // Prime the PDS's DID document cache with the old document: getSession must not keep showing it.
    assert.deepEqual((await alice.agent.com.atproto.server.getSession()).data.didDoc?.alsoKnownAs, [`at://${alice.handle}`])
    const seq = pds.ctx.sequencer.latestSeq()

    const newHandle = uniqueHandle('moved')
    await alice.agent.com.atproto.identity.updateHandle({ handle: newHandle.toUpperCase() })

    // The directory: one more operation, only alsoKnownAs changed.
    const doc = await directory.getDocumentData(alice.did)
    assert.deepEqual(doc, { ...before, alsoKnownAs: [`at://${newHandle}`] })
    assert.equal((await directory.getOperationLog(alice.did)).length, logBefore + 1)

    // Anyone's @atproto/identity: DID → handle and handle → DID.
    const outside = outsideResolver(plcDir.url, pds, sites)
    assert.equal((await outside.did.resolveAtprotoData(alice.did)).handle, newHandle)
    assert.equal(await outside.handle.resolve(newHandle), alice.did)
    assert.equal(await outside.handle.resolve(alice.handle), undefined, 'the old handle resolves nowhere')

    // The firehose: #identity with the new handle, sequenced once.
    await identityEvent(alice.did, newHandle, seq)
    const mine = events(pds, seq).filter((e) => e.body.did === alice.did)
    assert.deepEqual(mine.map((e) => [e.type, e.body.handle]), [['#identity', newHandle]])

    // This PDS's own views.
    const session = (await alice.agent.com.atproto.server.getSession()).data
    assert.equal(session.handle, newHandle)
    assert.deepEqual(session.didDoc?.alsoKnownAs, [`at://${newHandle}`])
    const described = (await pds.agent().com.atproto.repo.describeRepo({ repo: alice.did })).data
    assert.equal(described.handle, newHandle)
    assert.equal(described.handleIsCorrect, true)
    assert.equal((await pds.agent().com.atproto.identity.resolveHandle({ handle: newHandle })).data.did, alice.did)

    // The old handle is free: not found, and a new account can take it.
    const old = await xrpc(pds, 'com.atproto.identity.resolveHandle', { query: { handle: alice.handle } })
    assert.equal(old.body.error, 'HandleNotFound')
    const bob = await pds.agent().createAccount({ handle: alice.handle, email: 'bob@example.com', password: 'pw' })
    assert.equal((await pds.agent().com.atproto.identity.resolveHandle({ handle: alice.handle })).data.did, bob.data.did)
  })

  it('the same handle again changes nothing and sequences #identity again, as the reference does', async () => {
    const carol = await createUser(pds)
    const logBefore = (await directory.getOperationLog(carol.did)).length
    const seq = pds.ctx.sequencer.latestSeq()
    const res = await updateHandle(carol, carol.handle)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await directory.getOperationLog(carol.did)).length, logBefore, 'no PLC operation')
    await identityEvent(carol.did, carol.handle, seq)
    assert.equal(pds.ctx.accounts.store.byDid(carol.did)!.handle, carol.handle)
  })

  it('accepts a domain of their own whose /.well-known/atproto-did names the account', async () => {
    const dana = await createUser(pds)
    const handle = externalHandle()
    sites.dids.set(handle, dana.did)
    const seq = pds.ctx.sequencer.latestSeq()
    const res = await updateHandle(dana, handle)
    assert.equal(res.status, 200, JSON.stringify(res.body))

    assert.deepEqual((await directory.getDocumentData(dana.did)).alsoKnownAs, [`at://${handle}`])
    await identityEvent(dana.did, handle, seq)
    const outside = outsideResolver(plcDir.url, pds, sites)
    assert.equal((await outside.did.resolveAtprotoData(dana.did)).handle, handle)
    assert.equal(await outside.handle.resolve(handle), dana.did)
    assert.equal((await dana.agent.com.atproto.server.getSession()).data.handle, handle)
    assert.equal((await pds.agent().com.atproto.identity.resolveHandle({ handle })).data.did, dana.did)
    // Logging in with the new handle works too.
    await pds.agent().login({ identifier: handle, password: dana.password })
  })

  it('refuses a domain that does not name the account, with the reference error, and changes nothing', async () => {
    const erin = await createUser(pds)
    const other = await createUser(pds)
    const unverified = externalHandle() // the site answers 404
    const elsewhere = externalHandle()
    sites.dids.set(elsewhere, other.did) // the site names someone else
    const before = await snapshot(erin)
    for (const handle of [unverified, elsewhere]) {
      const res = await updateHandle(erin, handle)
      assert.equal(res.status, 400, handle)
      assert.deepEqual(res.body, { error: 'InvalidRequest', message: 'External handle did not resolve to DID' })
    }
    await assertUnchanged(erin, before)
  })

  it('refuses taken, invalid and reserved handles, and changes nothing', async () => {
    const fay = await createUser(pds)
    const holder = await createUser(pds)
    const parked = await createUser(pds)
    await parked.agent.com.atproto.server.deactivateAccount({})
    const before = await snapshot(fay)
    const cases: [string, number, string][] = [
      [holder.handle, 400, 'HandleNotAvailable'],
      [parked.handle.toUpperCase(), 400, 'HandleNotAvailable'], // held by a deactivated account
      ['admin.test', 400, 'HandleNotAvailable'], // reserved
      ['ab.test', 400, 'InvalidHandle'], // too short
      ['a-very-long-name-for-a-handle.test', 400, 'InvalidHandle'],
      ['two.labels.test', 400, 'InvalidHandle'], // one label under the service domain
      ['alice.local', 400, 'InvalidHandle'], // disallowed TLD
      ['not a handle', 400, 'InvalidRequest'], // the lexicon's handle format
    ]
    for (const [handle, status, error] of cases) {
      const res = await updateHandle(fay, handle)
      assert.equal(res.status, status, `${handle}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.error, error, handle)
    }
    const anonymous = await xrpc(pds, 'com.atproto.identity.updateHandle', { body: { handle: uniqueHandle() } })
    assert.equal(anonymous.status, 401)
    await assertUnchanged(fay, before)
  })

  it('takes an app password, as the reference does', async () => {
    const gus = await createUser(pds)
    const { data } = await gus.agent.com.atproto.server.createAppPassword({ name: 'client' })
    const app = pds.agent()
    await app.login({ identifier: gus.handle, password: data.password })
    const handle = uniqueHandle('app')
    await app.com.atproto.identity.updateHandle({ handle })
    assert.equal(pds.ctx.accounts.store.byDid(gus.did)!.handle, handle)
  })

  it('two accounts racing for one handle: one gets it, the other HandleNotAvailable, the directory agrees', async () => {
    const [hana, ivan] = [await createUser(pds), await createUser(pds)]
    const handle = uniqueHandle('race')
    const results = await Promise.all([updateHandle(hana, handle), updateHandle(ivan, handle)])
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 400])
    const loser = results.find((r) => r.status === 400)!
    assert.equal(loser.body.error, 'HandleNotAvailable')
    const winner = results[0].status === 200 ? hana : ivan
    const other = winner === hana ? ivan : hana
    assert.equal(pds.ctx.accounts.store.byHandle(handle)!.did, winner.did)
    assert.deepEqual((await directory.getDocumentData(winner.did)).alsoKnownAs, [`at://${handle}`])
    assert.deepEqual((await directory.getDocumentData(other.did)).alsoKnownAs, [`at://${other.handle}`])
  })

  it('a PLC directory that is down: 502 UpstreamFailure and nothing changes', async () => {
    const jo = await createUser(pds)
    const before = await snapshot(jo)
    const res = await gate.whileDown(() => updateHandle(jo, uniqueHandle('down')))
    assert.equal(res.status, 502)
    assert.equal(res.body.error, 'UpstreamFailure')
    await assertUnchanged(jo, before)
  })

  it('a PLC directory that refuses the operation (our rotation key removed): 400 and nothing changes', async () => {
    const recovery = await Secp256k1Keypair.create()
    const handle = uniqueHandle()
    const created = await pds.agent().createAccount({ handle, email: `${handle}@example.com`, password: 'pw', recoveryKey: recovery.did() })
    const { did, accessJwt } = created.data
    // The user takes the DID back: only their recovery key may sign from now on.
    await directory.updateRotationKeys(did, recovery as any, [recovery.did()])
    const before = await snapshot({ did })
    const res = await xrpc(pds, 'com.atproto.identity.updateHandle', {
      body: { handle: uniqueHandle('refused') },
      headers: { authorization: `Bearer ${accessJwt}` },
    })
    assert.equal(res.status, 400, JSON.stringify(res.body))
    assert.equal(res.body.error, 'InvalidRequest')
    await assertUnchanged({ did }, before)
  })
})

describe('resolveDid, resolveIdentity, refreshIdentity', () => {
  let viewer: User
  const get = (nsid: string, query: Record<string, string>, headers: Record<string, string> = bearer(viewer)) =>
    xrpc(pds, `com.atproto.identity.${nsid}`, { query, headers })
  const refresh = (identifier: string) =>
    xrpc(pds, 'com.atproto.identity.refreshIdentity', { body: { identifier }, headers: bearer(viewer) })

  /** A DID registered straight with the directory, not on this PDS: its document claims `handle`. */
  async function foreignDid(handle: string, rotation?: Secp256k1Keypair) {
    const key = rotation ?? (await Secp256k1Keypair.create())
    const did = await directory.createDid({
      signingKey: key.did(),
      handle,
      pds: 'https://elsewhere.example.com',
      rotationKeys: [key.did()],
      signer: key as any,
    })
    return { did, key }
  }

  before(async () => {
    viewer = await createUser(pds)
  })

  it('resolveDid: the DID document; DidNotFound, bad input and no login refused', async () => {
    const res = await get('resolveDid', { did: viewer.did })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body.didDoc, await directory.getDocument(viewer.did))

    const unknown = await get('resolveDid', { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' })
    assert.deepEqual([unknown.status, unknown.body.error], [400, 'DidNotFound'])
    const key = await get('resolveDid', { did: (await Secp256k1Keypair.create()).did() })
    assert.deepEqual([key.status, key.body.error], [400, 'DidNotFound'], 'did:key has no document to resolve')
    const bad = await get('resolveDid', { did: 'not-a-did' })
    assert.deepEqual([bad.status, bad.body.error], [400, 'InvalidRequest'])
    const anonymous = await get('resolveDid', { did: viewer.did }, {})
    assert.equal(anonymous.status, 401)
  })

  it('resolveIdentity: a local account by handle (any case) and by DID, verified both ways', async () => {
    const expected = { did: viewer.did, handle: viewer.handle, didDoc: await directory.getDocument(viewer.did) }
    for (const identifier of [viewer.handle.toUpperCase(), viewer.did]) {
      const res = await get('resolveIdentity', { identifier })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(res.body, expected, identifier)
    }
    const client = (await viewer.agent.com.atproto.identity.resolveIdentity({ identifier: viewer.did })).data
    assert.equal(client.handle, viewer.handle)
  })

  it('resolveIdentity: handle.invalid when the declared handle does not point back; HandleNotFound for it', async () => {
    // A DID elsewhere claiming a handle under our domain that nobody here holds.
    const squatter = await foreignDid(uniqueHandle('squat'))
    const squat = await get('resolveIdentity', { identifier: squatter.did })
    assert.equal(squat.status, 200, JSON.stringify(squat.body))
    assert.equal(squat.body.handle, 'handle.invalid')
    assert.equal(squat.body.did, squatter.did)

    // An account on a domain of its own, whose site then stops naming it.
    const own = await createUser(pds)
    const handle = externalHandle()
    sites.dids.set(handle, own.did)
    await own.agent.com.atproto.identity.updateHandle({ handle })
    assert.equal((await get('resolveIdentity', { identifier: own.did })).body.handle, handle)
    sites.dids.delete(handle)
    const lapsed = await get('resolveIdentity', { identifier: own.did })
    assert.equal(lapsed.body.handle, 'handle.invalid')
    const byHandle = await get('resolveIdentity', { identifier: handle })
    assert.deepEqual([byHandle.status, byHandle.body.error], [400, 'HandleNotFound'])
  })

  it('resolveIdentity: HandleMismatch, HandleNotFound, DidNotFound', async () => {
    // A site naming a DID whose document claims another handle.
    const liar = externalHandle()
    sites.dids.set(liar, viewer.did)
    const mismatch = await get('resolveIdentity', { identifier: liar })
    assert.deepEqual([mismatch.status, mismatch.body.error], [400, 'HandleMismatch'])
    const nobody = await get('resolveIdentity', { identifier: uniqueHandle('nobody') })
    assert.deepEqual([nobody.status, nobody.body.error], [400, 'HandleNotFound'])
    const noDid = await get('resolveIdentity', { identifier: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' })
    assert.deepEqual([noDid.status, noDid.body.error], [400, 'DidNotFound'])
    const anonymous = await get('resolveIdentity', { identifier: viewer.did }, {})
    assert.equal(anonymous.status, 401)
  })

  it('refreshIdentity reads past the DID document cache; resolveIdentity keeps serving the cached copy', async () => {
    const owner = await Secp256k1Keypair.create()
    const first = uniqueHandle('first')
    const { did } = await foreignDid(first, owner)
    const cached = await get('resolveIdentity', { identifier: did })
    assert.deepEqual(cached.body.didDoc.alsoKnownAs, [`at://${first}`])

    // The owner moves the DID to a domain of their own, straight at the directory.
    const handle = externalHandle()
    sites.dids.set(handle, did)
    await directory.updateHandle(did, owner as any, handle)

    const stale = await get('resolveIdentity', { identifier: did })
    assert.deepEqual(stale.body.didDoc.alsoKnownAs, [`at://${first}`], 'still the cached document')
    const fresh = await refresh(did)
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body))
    assert.deepEqual(fresh.body, { did, handle, didDoc: await directory.getDocument(did) })
    assert.equal((await get('resolveIdentity', { identifier: did })).body.handle, handle, 'the cache now has it')
    assert.equal((await refresh(handle)).body.did, did, 'by handle too')

    const anonymous = await xrpc(pds, 'com.atproto.identity.refreshIdentity', { body: { identifier: did } })
    assert.equal(anonymous.status, 401)
  })

  it('a directory that is down: 502 UpstreamFailure', async () => {
    const { did } = await foreignDid(uniqueHandle('down'))
    const res = await gate.whileDown(() => get('resolveDid', { did }))
    assert.deepEqual([res.status, res.body.error], [502, 'UpstreamFailure'])
  })
})

describe('with the embedded directory and rate limits on', () => {
  let dev: TestPds

  before(async () => {
    dev = await startPds({
      env: { PDS_RATE_LIMITS_ENABLED: 'true', PDS_RATE_LIMIT_HANDLE_UPDATES_PER_5_MINUTES: '2' },
    })
  })
  after(() => dev?.destroy())

  it('updateHandle counts per account: the third in the window is refused with 429', async () => {
    const user = await createUser(dev)
    const other = await createUser(dev)
    const call = (u: User, handle: string) =>
      xrpc(dev, 'com.atproto.identity.updateHandle', { body: { handle }, headers: bearer(u) })
    assert.equal((await call(user, uniqueHandle('rl'))).status, 200)
    assert.equal((await call(user, user.handle)).status, 200)
    const over = await call(user, uniqueHandle('rl'))
    assert.deepEqual([over.status, over.body.error], [429, 'RateLimitExceeded'])
    assert.equal((await call(other, uniqueHandle('rl'))).status, 200, 'another account has its own budget')
  })

  it('resolveDid: DidDeactivated for a tombstoned did:plc (the directory answers 410)', async () => {
    const user = await createUser(dev)
    const key = await Secp256k1Keypair.create()
    const embedded = new plc.Client(`${dev.url}/plc`)
    const did = await embedded.createDid({
      signingKey: key.did(),
      handle: uniqueHandle('gone'),
      pds: 'https://elsewhere.example.com',
      rotationKeys: [key.did()],
      signer: key as any,
    })
    await embedded.tombstone(did, key as any)
    const res = await xrpc(dev, 'com.atproto.identity.resolveDid', { query: { did }, headers: bearer(user) })
    assert.deepEqual([res.status, res.body.error], [400, 'DidDeactivated'])
  })
})

describe('identity resolution outside dev mode', () => {
  it('does not reach plain-http or loopback addresses, where dev mode does', async () => {
    let requests = 0
    const server = http.createServer((_req, res) => {
      requests += 1
      res.writeHead(404).end()
    })
    const url = await listen(server)
    try {
      const did = `did:web:localhost%3A${new URL(url).port}`
      const guarded = new IdentityResolver({ plcUrl: plcDir.url, devMode: false })
      await assert.rejects(guarded.didDoc(did))
      assert.equal(await guarded.handle('localhost'), undefined)
      assert.equal(requests, 0, 'nothing reached the local server')

      const dev = new IdentityResolver({ plcUrl: plcDir.url, devMode: true })
      assert.equal(await dev.didDoc(did), null)
      assert.equal(requests, 1, 'dev mode asked it')
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
