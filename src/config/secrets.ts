// Secrets for a localhost PDS: generated on first start and kept in the data directory, so that tokens, the admin
// password and the PLC rotation key survive restarts without any configuration. Production sets them explicitly.
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { mkdirPrivate, tightenFile } from '../util/private-fs.ts'

export type Secrets = Readonly<{
  jwtSecret: string
  adminPassword: string
  /** secp256k1 private key, hex: the PDS's own PLC rotation key. */
  plcRotationKeyHex: string
}>

const FILE = 'secrets.json'

export function loadLocalSecrets(dataDirectory: string): Secrets {
  const file = path.join(dataDirectory, FILE)
  if (existsSync(file)) {
    tightenFile(file)
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Secrets
    if (stored.jwtSecret && stored.adminPassword && /^[0-9a-f]{64}$/.test(stored.plcRotationKeyHex)) return stored
  }
  const secrets: Secrets = {
    jwtSecret: randomBytes(32).toString('hex'),
    adminPassword: randomBytes(16).toString('hex'),
    plcRotationKeyHex: randomSecp256k1Hex(),
  }
  mkdirPrivate(dataDirectory)
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 })
  chmodSync(file, 0o600)
  return secrets
}

// Any 32 random bytes below the curve order are a valid secp256k1 key; values at or above it are astronomically rare
// but checked anyway.
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
function randomSecp256k1Hex(): string {
  for (;;) {
    const hex = randomBytes(32).toString('hex')
    const n = BigInt('0x' + hex)
    if (n > 0n && n < SECP256K1_N) return hex
  }
}
