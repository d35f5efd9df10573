// Secrets for a localhost PDS: generated on first start and kept in the data directory, so that tokens, the admin
// password, the PLC rotation key and the OAuth keys survive restarts without any configuration. Production sets
// them explicitly.
import { createECDH, generateKeyPairSync, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { mkdirPrivate, tightenFile } from '../util/private-fs.ts'

export type Secrets = Readonly<{
  jwtSecret: string
  adminPassword: string
  /** secp256k1 private key, hex: the PDS's own PLC rotation key. */
  plcRotationKeyHex: string
  /** P-256 private key, hex: signs the OAuth authorization server's tokens (ES256; src/oauth/keys.ts). */
  oauthSigningKeyHex: string
  /** 32 bytes, hex: the HMAC key of the DPoP nonces the OAuth server hands out. */
  dpopSecret: string
}>

const FILE = 'secrets.json'
const HEX64 = /^[0-9a-f]{64}$/

export function loadLocalSecrets(dataDirectory: string): Secrets {
  const file = path.join(dataDirectory, FILE)
  let stored: Partial<Secrets> = {}
  if (existsSync(file)) {
    tightenFile(file)
    stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>
  }
  // Each secret is kept if present and well-formed: a data directory from before the OAuth keys keeps its sessions
  // and PLC rotation key, and only gains the new ones.
  const secrets: Secrets = {
    jwtSecret: stored.jwtSecret || randomBytes(32).toString('hex'),
    adminPassword: stored.adminPassword || randomBytes(16).toString('hex'),
    plcRotationKeyHex: HEX64.test(stored.plcRotationKeyHex ?? '') ? stored.plcRotationKeyHex! : randomSecp256k1Hex(),
    oauthSigningKeyHex: isP256PrivateKeyHex(stored.oauthSigningKeyHex ?? '') ? stored.oauthSigningKeyHex! : randomP256Hex(),
    dpopSecret: HEX64.test(stored.dpopSecret ?? '') ? stored.dpopSecret! : randomBytes(32).toString('hex'),
  }
  if (Object.entries(secrets).some(([k, v]) => stored[k as keyof Secrets] !== v)) {
    mkdirPrivate(dataDirectory)
    writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 })
    chmodSync(file, 0o600)
  }
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

/** A new P-256 private key as 64 hex characters (its scalar `d`). */
function randomP256Hex(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url').toString('hex')
}

/** Whether `hex` is 64 hex characters naming a valid P-256 private key (non-zero, below the curve order). */
export function isP256PrivateKeyHex(hex: string): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false
  try {
    createECDH('prime256v1').setPrivateKey(Buffer.from(hex, 'hex'))
    return true
  } catch {
    return false
  }
}
