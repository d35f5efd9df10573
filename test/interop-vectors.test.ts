// The public interop vectors (test/fixtures/interop) run through our validation and key handling.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { verifySignature } from '@atproto/crypto'
import { normalizeHandle } from '../src/identity/handles.ts'
import { keypairFromHex } from '../src/identity/keys.ts'
import { atIdentifier, did as didSchema } from '../src/xrpc/schemas.ts'
import { interopJson, interopText } from './helpers/fixtures.ts'
import type { TestPlc } from './helpers/plc.ts'
import { xrpc, type TestPds, startServers, stopServers } from './helpers/pds.ts'

function lines(file: string): string[] {
  return interopText(`syntax/${file}`)
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
}
const json = interopJson

describe('interop vectors: syntax', () => {
  it('accepts every valid handle (or names the disallowed TLD)', () => {
    for (const h of lines('handle_syntax_valid.txt')) {
      try {
        assert.equal(normalizeHandle(h), h.toLowerCase())
      } catch (err) {
        assert.match((err as Error).message, /TLD is not allowed/, `${h} was refused: ${(err as Error).message}`)
      }
    }
  })

  it('refuses every invalid handle with InvalidHandle', () => {
    for (const h of lines('handle_syntax_invalid.txt')) {
      assert.throws(() => normalizeHandle(h), (err: any) => err.error === 'InvalidHandle', h)
    }
  })

  it('DID and at-identifier schemas agree with the vectors', () => {
    for (const d of lines('did_syntax_valid.txt')) assert.ok(didSchema.safeParse(d).success, d)
    for (const d of lines('did_syntax_invalid.txt')) assert.ok(!didSchema.safeParse(d).success, d)
    for (const a of lines('atidentifier_syntax_valid.txt')) assert.ok(atIdentifier.safeParse(a).success, a)
    for (const a of lines('atidentifier_syntax_invalid.txt')) assert.ok(!atIdentifier.safeParse(a).success, a)
  })
})

describe('interop vectors: crypto', () => {
  it('our key loading yields the did:key of each K-256 private key', async () => {
    const vectors = json<{ privateKeyBytesHex: string; publicDidKey: string }[]>('crypto/w3c_didkey_K256.json')
    assert.ok(vectors.length > 0)
    for (const v of vectors) {
      const key = await keypairFromHex(v.privateKeyBytesHex)
      assert.equal(key.did(), v.publicDidKey)
    }
  })

  it('signature fixtures verify exactly when they should (low-S, no DER)', async () => {
    type Fixture = { messageBase64: string; publicKeyDid: string; signatureBase64: string; validSignature: boolean; comment: string }
    const fixtures = json<Fixture[]>('crypto/signature-fixtures.json')
    assert.ok(fixtures.some((f) => !f.validSignature))
    for (const f of fixtures) {
      const msg = Buffer.from(f.messageBase64, 'base64')
      const sig = Buffer.from(f.signatureBase64, 'base64')
      const ok = await verifySignature(f.publicKeyDid, msg, sig).catch(() => false)
      assert.equal(ok, f.validSignature, f.comment)
    }
  })

  it('a key we generate signs and verifies as a did:key', async () => {
    const { newSigningKey } = await import('../src/identity/keys.ts')
    const { keypair, hex } = await newSigningKey()
    const reloaded = await keypairFromHex(hex)
    assert.equal(reloaded.did(), keypair.did())
    const msg = Buffer.from('aurora')
    assert.ok(await verifySignature(keypair.did(), msg, await reloaded.sign(msg)))
  })
})

describe('interop vectors: invalid handles at signup', () => {
  let plc: TestPlc
  let pds: TestPds
  before(async () => ({ plc, pds } = await startServers()))
  after(() => stopServers({ plc, pds }))

  it('every invalid handle is refused with InvalidHandle and creates nothing', async () => {
    for (const handle of lines('handle_syntax_invalid.txt')) {
      const res = await xrpc(pds, 'com.atproto.server.createAccount', {
        body: { handle, email: 'vector@example.com', password: 'pw' },
      })
      assert.equal(res.status, 400, handle)
      assert.equal(res.body.error, 'InvalidHandle', `${handle}: ${JSON.stringify(res.body)}`)
    }
    assert.equal(pds.ctx.accounts.store.count(), 0)
  })
})
