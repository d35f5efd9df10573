// Repo signing keys (src/identity/keys.ts): the same keys and signatures as @atproto/crypto's Secp256k1Keypair, with
// the signing sped up; every signature must still verify in the strict (low-S, compact) form relays check.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { secp256k1 } from '@noble/curves/secp256k1'
import { keypairFromHex, newSigningKey } from '../src/identity/keys.ts'

describe('repo signing keys', () => {
  it('name the same did:key as @atproto/crypto and export the same private key', async () => {
    const { keypair, hex } = await newSigningKey()
    const reference = await Secp256k1Keypair.import(hex)
    assert.equal(keypair.did(), reference.did())
    assert.equal(Buffer.from(await keypair.export()).toString('hex'), hex)
    assert.equal((await keypairFromHex(hex.toUpperCase())).did(), reference.did())
  })

  it('sign messages that verify strictly (low-S, 64 bytes) against the did:key', async () => {
    const { keypair } = await newSigningKey()
    const halfOrder = secp256k1.CURVE.n >> 1n
    for (let i = 0; i < 50; i++) {
      const msg = randomBytes(1 + i * 7)
      const sig = await keypair.sign(msg)
      assert.equal(sig.length, 64)
      assert.ok(BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex')) <= halfOrder, 'low-S')
      assert.ok(await verifySignature(keypair.did(), msg, sig))
      assert.equal(await verifySignature(keypair.did(), randomBytes(8), sig), false)
    }
  })

  it('refuses what is not a 32-byte hex key', async () => {
    await assert.rejects(keypairFromHex('abc'), /64 hex digits/)
    await assert.rejects(keypairFromHex('zz'.repeat(32)), /64 hex digits/)
  })
})
