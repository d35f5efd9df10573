// did:plc at signup against a real PLC directory, handle resolution and .well-known/atproto-did.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Secp256k1Keypair } from '@atproto/crypto'
import { DidResolver } from '@atproto/identity'
import * as plc from '@did-plc/lib'
import { startPlc, type TestPlc } from './helpers/plc.ts'
import { createUser, freePort, getWithHost, startPds, uniqueHandle, xrpc, type TestPds } from './helpers/pds.ts'

describe('did:plc identities (external directory)', () => {
  let plcDir: TestPlc
  let pds: TestPds

  before(async () => {
    plcDir = await startPlc()
    pds = await startPds({ plcUrl: plcDir.url })
  })
  after(async () => {
    await pds?.destroy()
    await plcDir?.close()
  })

  it('registers a DID whose document points at this PDS with the account signing key', async () => {
    const { did, handle } = await createUser(pds)
    const resolver = new DidResolver({ plcUrl: plcDir.url, fetch: globalThis.fetch })
    const data = await resolver.resolveAtprotoData(did)
    assert.equal(data.pds, pds.ctx.cfg.publicUrl)
    assert.equal(data.handle, handle)
    const account = pds.ctx.accounts.store.byDid(did)!
    const key = await Secp256k1Keypair.import(account.signing_key_hex)
    assert.equal(data.signingKey, key.did(), 'the #atproto key is the stored signing key')

    const doc = await new plc.Client(plcDir.url).getDocumentData(did)
    const pdsRotation = await Secp256k1Keypair.import(pds.ctx.cfg.secrets.plcRotationKeyHex)
    assert.deepEqual(doc.rotationKeys, [pdsRotation.did()])
    assert.deepEqual(doc.services.atproto_pds, { type: 'AtprotoPersonalDataServer', endpoint: pds.ctx.cfg.publicUrl })
  })

  it("puts the user's recovery key first among the rotation keys", async () => {
    const recovery = await Secp256k1Keypair.create()
    const res = await pds.agent().createAccount({
      handle: uniqueHandle(),
      email: 'recovery@example.com',
      password: 'pw',
      recoveryKey: recovery.did(),
    })
    const doc = await new plc.Client(plcDir.url).getDocumentData(res.data.did)
    assert.equal(doc.rotationKeys.length, 2)
    assert.equal(doc.rotationKeys[0], recovery.did())
    // The recovery key really controls the DID: it can sign an update the directory accepts.
    await new plc.Client(plcDir.url).updateHandle(res.data.did, recovery as any, 'moved.test')
    const updated = await new plc.Client(plcDir.url).getDocumentData(res.data.did)
    assert.deepEqual(updated.alsoKnownAs, ['at://moved.test'])
  })

  it('creates nothing when the directory is down', async () => {
    const deadPort = await freePort()
    const broken = await startPds({ plcUrl: `http://127.0.0.1:${deadPort}` })
    try {
      const handle = uniqueHandle()
      const res = await xrpc(broken, 'com.atproto.server.createAccount', {
        body: { handle, email: 'down@example.com', password: 'pw' },
      })
      assert.equal(res.status, 502)
      assert.equal(res.body.error, 'UpstreamFailure')
      assert.match(res.body.message, /PLC directory/)
      assert.equal(broken.ctx.accounts.store.byHandle(handle), undefined)
      assert.equal(broken.ctx.accounts.store.count(), 0)
    } finally {
      await broken.destroy()
    }
  })

  it('answers /.well-known/atproto-did for its handles by Host header', async () => {
    const { did, handle } = await createUser(pds)
    const ok = await getWithHost(pds, '/.well-known/atproto-did', handle)
    assert.equal(ok.status, 200)
    assert.equal(ok.body, did)
    const missing = await getWithHost(pds, '/.well-known/atproto-did', 'nobody.test')
    assert.equal(missing.status, 404)
  })

  it('resolveHandle answers local handles and HandleNotFound for unknown ones', async () => {
    const { did, handle } = await createUser(pds)
    const res = await pds.agent().com.atproto.identity.resolveHandle({ handle: handle.toUpperCase() })
    assert.equal(res.data.did, did)
    const unknown = await xrpc(pds, 'com.atproto.identity.resolveHandle', { query: { handle: 'nobody.invalid-tld-x.test' } })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.error, 'HandleNotFound')
    const bad = await xrpc(pds, 'com.atproto.identity.resolveHandle', { query: { handle: 'not a handle' } })
    assert.equal(bad.status, 400)
    assert.equal(bad.body.error, 'InvalidHandle')
  })
})

/** fetch() will not let us set Host, so speak HTTP/1.1 by hand for the well-known check. */
