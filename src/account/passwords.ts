// Password hashing with scrypt from node:crypto and a per-password random salt, stored as "salt:hash" (hex).
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const scryptAsync = promisify(scrypt) as (password: string, salt: string, keylen: number) => Promise<Buffer>
const KEY_LENGTH = 64

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16).toString('hex')
  const hash = await scryptAsync(password.normalize('NFKC'), salt, KEY_LENGTH)
  return `${salt}:${hash.toString('hex')}`
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [salt, hex] = stored.split(':')
  if (!salt || !hex) return false
  const expected = Buffer.from(hex, 'hex')
  const actual = await scryptAsync(password.normalize('NFKC'), salt, expected.length)
  return timingSafeEqual(actual, expected)
}

/** App passwords look like the reference's: four groups of four lower-case letters and digits. */
export function generateAppPassword(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  const bytes = randomBytes(16)
  const chars = [...bytes].map((b) => alphabet[b % 32])
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-')
}
