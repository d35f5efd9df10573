// The metrics token check. Both sides are hashed first so that the comparison is of equal lengths and takes the same
// time whatever the caller sent (timingSafeEqual alone throws on, and so reveals, a length mismatch).
import { createHash, timingSafeEqual } from 'node:crypto'

const sha256 = (s: string) => createHash('sha256').update(s).digest()

/** Whether an `Authorization` header value is `Bearer <token>` (scheme case-insensitive, as RFC 6750 allows). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? ''
  return timingSafeEqual(sha256(given), sha256(token)) && given.length > 0
}
