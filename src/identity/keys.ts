// secp256k1 keys for repo signing and PLC rotation, kept as hex so the server can sign after a restart.
import { Secp256k1Keypair } from '@atproto/crypto'

export type { Secp256k1Keypair }

export function keypairFromHex(hex: string): Promise<Secp256k1Keypair> {
  return Secp256k1Keypair.import(hex, { exportable: true })
}

export async function newSigningKey(): Promise<{ keypair: Secp256k1Keypair; hex: string }> {
  const keypair = await Secp256k1Keypair.create({ exportable: true })
  return { keypair, hex: Buffer.from(await keypair.export()).toString('hex') }
}
