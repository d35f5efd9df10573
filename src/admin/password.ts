import { randomBytes } from 'node:crypto'

/** A strong password for an account: 24 characters of base64url, 144 random bits. */
export function newPassword(): string {
  return randomBytes(18).toString('base64url')
}
