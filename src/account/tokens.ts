// Session JWTs (HS256, jose), shaped like the reference PDS's so that @atproto/api and other PDS tooling accept them.
// Both tokens also carry `sid`, the session row they belong to, so that deleting a session revokes its access token.
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import * as jose from 'jose'
import { InvalidRequestError } from '../errors.ts'
import { AuthScope } from './scopes.ts'

const ACCESS_TTL_SECONDS = 2 * 60 * 60
export const REFRESH_TTL_SECONDS = 90 * 24 * 60 * 60

/** Milliseconds since the epoch; `Date.now` in production, a controllable clock in tests. */
export type Now = () => number

export type AccessClaims = { did: string; scope: AuthScope; sessionId: string }
export type RefreshClaims = { did: string; sessionId: string; jti: string; exp: number }

/** Verified tokens remembered (oldest out first); a session's tokens are looked up, not re-verified. */
const VERIFIED_CACHE_SIZE = 1024

export class TokenService {
  private readonly key: KeyObject
  private readonly verified = new Map<string, { typ: string; payload: jose.JWTPayload }>()
  private readonly serviceDid: string
  /** The clock every token and session timestamp is read from. */
  readonly now: Now

  constructor(jwtSecret: string, serviceDid: string, now: Now = Date.now) {
    this.key = createSecretKey(Buffer.from(jwtSecret, 'utf8'))
    this.serviceDid = serviceDid
    this.now = now
  }

  static newId(): string {
    return randomBytes(24).toString('base64url')
  }

  /** The clock's time in epoch seconds, the unit of JWT `iat`/`exp` and of the session table. */
  nowSeconds(): number {
    return Math.floor(this.now() / 1000)
  }

  createAccessToken(did: string, scope: AuthScope, sessionId: string): Promise<string> {
    const iat = this.nowSeconds()
    return new jose.SignJWT({ scope, sid: sessionId })
      .setProtectedHeader({ typ: 'at+jwt', alg: 'HS256' })
      .setAudience(this.serviceDid)
      .setSubject(did)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ACCESS_TTL_SECONDS)
      .sign(this.key)
  }

  /**
   * Sign a refresh token: a fresh id and a 90-day expiry, unless `reissue` names both (a spent token's replacement
   * handed out again; see SessionService.rotate). `exp` is in epoch seconds.
   */
  async createRefreshToken(
    did: string,
    sessionId: string,
    reissue?: { jti: string; exp: number },
  ): Promise<{ jwt: string; jti: string; exp: number }> {
    const iat = this.nowSeconds()
    const jti = reissue?.jti ?? TokenService.newId()
    const exp = reissue?.exp ?? iat + REFRESH_TTL_SECONDS
    const jwt = await new jose.SignJWT({ scope: AuthScope.Refresh, sid: sessionId })
      .setProtectedHeader({ typ: 'refresh+jwt', alg: 'HS256' })
      .setAudience(this.serviceDid)
      .setSubject(did)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key)
    return { jwt, jti, exp }
  }

  async verifyAccess(token: string, allowed: readonly AuthScope[]): Promise<AccessClaims> {
    const payload = await this.verify(token, 'at+jwt')
    if (!allowed.includes(payload.scope as AuthScope)) throw new InvalidRequestError('Bad token scope', 'InvalidToken')
    return { did: payload.sub!, scope: payload.scope as AuthScope, sessionId: payload.sid as string }
  }

  async verifyRefresh(token: string): Promise<RefreshClaims> {
    const payload = await this.verify(token, 'refresh+jwt')
    if (payload.scope !== AuthScope.Refresh) throw new InvalidRequestError('Bad token scope', 'InvalidToken')
    if (typeof payload.jti !== 'string') throw new InvalidRequestError('Malformed token', 'InvalidToken')
    return { did: payload.sub!, sessionId: payload.sid as string, jti: payload.jti, exp: payload.exp! }
  }

  private async verify(token: string, typ: string): Promise<jose.JWTPayload> {
    // A token already verified (signature, audience, type, shape) is checked again for expiry only: the same access
    // token comes with every request of a session, and the HMAC check through WebCrypto was ~0.4 ms of each write.
    const known = this.verified.get(token)
    if (known && known.typ === typ && known.payload.exp! > this.nowSeconds()) return known.payload
    const payload = await this.verifyJwt(token, typ)
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!)
    this.verified.set(token, { typ, payload })
    return payload
  }

  private async verifyJwt(token: string, typ: string): Promise<jose.JWTPayload> {
    let payload: jose.JWTPayload
    let header: jose.JWTHeaderParameters
    try {
      ;({ payload, protectedHeader: header } = await jose.jwtVerify(token, this.key, {
        audience: this.serviceDid,
        algorithms: ['HS256'],
        currentDate: new Date(this.now()),
      }))
    } catch (err) {
      if (err instanceof jose.errors.JWTExpired) throw new InvalidRequestError('Token has expired', 'ExpiredToken')
      throw new InvalidRequestError('Token could not be verified', 'InvalidToken')
    }
    // A refresh token is not an access token and vice versa, even though both verify with the same key.
    if (header.typ !== typ) throw new InvalidRequestError('Invalid token type', 'InvalidToken')
    if (
      typeof payload.sub !== 'string' ||
      !payload.sub.startsWith('did:') ||
      typeof payload.sid !== 'string' ||
      typeof payload.exp !== 'number'
    ) {
      throw new InvalidRequestError('Malformed token', 'InvalidToken')
    }
    return payload
  }
}
