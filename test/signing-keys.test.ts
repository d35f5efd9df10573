// Repo signing keys (src/identity/keys.ts): the same keys and signatures as @atproto/crypto's Secp256k1Keypair, with
// the signing sped up; every signature must still verify in the strict (low-S, compact) form relays check.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { secp256k1 } from '@noble/curves/secp256k1'
import { keypairFromHex, keypairFromHexOnFirstUse, newSigningKey } from '../src/identity/keys.ts'

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

  it('refuses what is not a 32-byte hex key, or a key outside 1 … n-1, at once (the one derived on first use too)', async () => {
    const order = secp256k1.CURVE.n.toString(16)
    for (const bad of ['abc', 'zz'.repeat(32), '0'.repeat(64), order, 'f'.repeat(64)]) {
      await assert.rejects(keypairFromHex(bad), /64 hex digits|not a valid secp256k1 private key/)
      assert.throws(() => keypairFromHexOnFirstUse(bad), /64 hex digits|not a valid secp256k1 private key/)
    }
    // n-1 is the largest valid key.
    const last = (secp256k1.CURVE.n - 1n).toString(16)
    assert.equal(keypairFromHexOnFirstUse(last).did(), (await Secp256k1Keypair.import(last)).did())
  })

  it('a key derived on first use names the same did:key and signs verifiably', async () => {
    const { keypair, hex } = await newSigningKey()
    const lazy = keypairFromHexOnFirstUse(hex)
    assert.equal(lazy.did(), keypair.did())
    const msg = randomBytes(40)
    assert.ok(await verifySignature(keypair.did(), msg, await lazy.sign(msg)))
  })
})
