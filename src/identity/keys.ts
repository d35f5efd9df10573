// secp256k1 keys for repo signing and PLC rotation, kept as hex so the server can sign after a restart.
import { SECP256K1_JWT_ALG, Secp256k1Keypair, type Keypair } from '@atproto/crypto'
import { secp256k1 } from '@noble/curves/secp256k1'

export type { Secp256k1Keypair }

let precomputed = false

/**
 * @atproto/crypto's keypair (same keys, same low-S compact signatures), signing with a larger precomputed table of
 * the curve's base point in @noble/curves (the library @atproto/crypto signs with): window 8, about a third less time
 * per signature (0.94 → 0.63 ms measured on the benchmark machine) for ~1 MiB, built in ~80 ms by the first signature
 * rather than at startup. Every commit is signed, so this is on the write path.
 */
class SigningKeypair extends Secp256k1Keypair {
  override async sign(msg: Uint8Array): Promise<Uint8Array> {
    if (!precomputed) {
      secp256k1.utils.precompute(8)
      precomputed = true
    }
    return super.sign(msg)
  }
}

/** The key's 32 bytes; throws unless `hex` is 64 hex digits naming a valid secp256k1 private key (1 … n-1). */
function privateKeyBytes(hex: string): Buffer {
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error('a secp256k1 private key is 64 hex digits')
  const bytes = Buffer.from(hex, 'hex')
  if (!secp256k1.utils.isValidPrivateKey(bytes)) throw new Error('not a valid secp256k1 private key (zero, or not below the curve order)')
  return bytes
}

export async function keypairFromHex(hex: string): Promise<Secp256k1Keypair> {
  return new SigningKeypair(privateKeyBytes(hex), true)
}

/**
 * The same key, checked now but derived by its first use (did() or sign()): the first secp256k1 public key a process
 * derives builds the curve's precomputed tables, ~75 ms of CPU and ~10 MiB that a server nobody signs up to need not
 * spend at startup (the PLC rotation key). Throws now for a key keypairFromHex would refuse.
 */
export function keypairFromHexOnFirstUse(hex: string): Keypair {
  const bytes = privateKeyBytes(hex)
  let key: Secp256k1Keypair | undefined
  const get = () => (key ??= new SigningKeypair(bytes, true))
  return { jwtAlg: SECP256K1_JWT_ALG, did: () => get().did(), sign: (msg) => get().sign(msg) }
}

export async function newSigningKey(): Promise<{ keypair: Secp256k1Keypair; hex: string }> {
  const hex = Buffer.from(secp256k1.utils.randomPrivateKey()).toString('hex')
  return { keypair: await keypairFromHex(hex), hex }
}
