// Password hashing with scrypt from node:crypto (its defaults: N=16384, r=8, p=1, about 50 ms of one core each) and a
// per-password random salt, stored as "salt:hash" (hex). Every hash runs on libuv's threadpool, never on the event
// loop, and at most SCRYPT_CONCURRENCY at once: that pool (4 threads unless UV_THREADPOOL_SIZE says otherwise) also
// serves file reads and DNS lookups, which a burst of logins must not starve. A burst waits in line instead.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { createLimiter } from '../util/limiter.ts'

const scryptAsync = promisify(scrypt) as (password: string, salt: string, keylen: number) => Promise<Buffer>
const KEY_LENGTH = 64
/** Hashes running at once; two leaves half of the default threadpool to files and DNS. */
export const SCRYPT_CONCURRENCY = 2
const limit = createLimiter(SCRYPT_CONCURRENCY)

/** scrypt with the default cost, off the event loop and through the shared limit. keylen in bytes. */
export function scryptHash(password: string, salt: string, keylen: number): Promise<Buffer> {
  return limit(() => scryptAsync(password, salt, keylen))
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16).toString('hex')
  const hash = await scryptHash(password.normalize('NFKC'), salt, KEY_LENGTH)
  return `${salt}:${hash.toString('hex')}`
}

/** Constant-time comparison of the derived key with the stored one. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [salt, hex] = stored.split(':')
  if (!salt || !hex) return false
  const expected = Buffer.from(hex, 'hex')
  const actual = await scryptHash(password.normalize('NFKC'), salt, expected.length)
  return timingSafeEqual(actual, expected)
}

/**
 * A well-formed stored hash that no password matches, shaped like a real one (16-byte salt, 64-byte key): a login
 * for an unknown identifier is checked against it, so that it costs what a wrong password for a real account costs.
 */
export const UNMATCHABLE_PASSWORD_HASH = `${'00'.repeat(16)}:${'00'.repeat(KEY_LENGTH)}`

/** App passwords look like the reference's: four groups of four lower-case letters and digits. */
export function generateAppPassword(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  const bytes = randomBytes(16)
  const chars = [...bytes].map((b) => alphabet[b % 32])
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-')
}
