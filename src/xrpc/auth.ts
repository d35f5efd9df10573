// Who may call a method. Each route names one AuthKind; the verifier turns the request's Authorization header into
// Credentials or throws the reference PDS's error for it.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Request } from 'express'
import { ACCESS_FULL, ACCESS_PRIVILEGED, ACCESS_STANDARD, AuthScope } from '../account/scopes.ts'
import type { SessionService } from '../account/sessions.ts'
import type { TokenService } from '../account/tokens.ts'
import type { ServiceJwtVerifier } from '../identity/service-jwt.ts'
import type { FailureGuard } from '../ratelimit/index.ts'
import { AuthRequiredError, InvalidRequestError, PdsError } from './errors.ts'

export type AuthKind =
  | 'none' // anyone
  | 'access' // any login, app passwords included
  | 'accessPrivileged' // a real login or a privileged app password
  | 'accessFull' // a real login only: managing the account
  | 'refresh' // the refresh token of a session
  | 'admin' // HTTP Basic admin:<PDS_ADMIN_PASSWORD>
  | 'optionalAccessOrAdmin' // a login (app passwords included) or the operator when credentials are sent, anyone otherwise (see `rejected`)
  | 'optionalServiceAuth' // a service JWT for this method when a Bearer token is sent (it must verify), anyone otherwise

export type UserCredentials = {
  type: 'user'
  did: string
  sessionId: string
  scope: AuthScope
  /** Only for refresh credentials: the token's id and expiry (epoch s); SessionService decides if it is still live. */
  refresh?: { jti: string; exp: number }
}
export type Credentials =
  /**
   * Anonymous. `rejected`: with optionalAccessOrAdmin, the error the credentials sent failed with; the handler throws
   * it only where the credentials matter (an inactive repo), so bad credentials never spoil a public read.
   */
  | { type: 'none'; rejected?: PdsError }
  | { type: 'admin' }
  | UserCredentials
  /** A verified service JWT: `did` is its issuer (an account's old PDS speaking for the account, when it migrates). */
  | { type: 'service'; did: string }

const ACCESS_SCOPES: Record<'access' | 'accessPrivileged' | 'accessFull', readonly AuthScope[]> = {
  access: ACCESS_STANDARD,
  accessPrivileged: ACCESS_PRIVILEGED,
  accessFull: ACCESS_FULL,
}

export class AuthVerifier {
  private readonly tokens: TokenService
  private readonly sessions: SessionService
  private readonly adminPasswordDigest: Buffer
  private readonly adminFailures?: FailureGuard
  private readonly serviceJwts?: ServiceJwtVerifier

  /**
   * `adminFailures`: counts wrong admin passwords per client and refuses (429) any once over its limit.
   * `serviceJwts`: verifies service JWTs (optionalServiceAuth); without it such tokens are refused.
   */
  constructor(
    tokens: TokenService,
    sessions: SessionService,
    adminPassword: string,
    adminFailures?: FailureGuard,
    serviceJwts?: ServiceJwtVerifier,
  ) {
    this.tokens = tokens
    this.sessions = sessions
    this.adminPasswordDigest = sha256(adminPassword)
    this.adminFailures = adminFailures
    this.serviceJwts = serviceJwts
  }

  async verify(kind: AuthKind, req: Request): Promise<Credentials> {
    switch (kind) {
      case 'none':
        return { type: 'none' }
      case 'admin':
        return this.verifyAdmin(req)
      case 'optionalAccessOrAdmin':
        if (!req.headers.authorization) return { type: 'none' }
        try {
          return req.headers.authorization.startsWith('Basic ')
            ? await this.verifyAdmin(req)
            : this.liveSession(await this.tokens.verifyAccess(bearer(req), ACCESS_STANDARD))
        } catch (err) {
          if (err instanceof PdsError) return { type: 'none', rejected: err }
          throw err
        }
      case 'optionalServiceAuth': {
        // As the reference's userServiceAuthOptional: a Bearer token must be a valid service JWT for this very method
        // (an access token is refused by its type); other schemes, or none, call anonymously.
        if (!req.headers.authorization?.startsWith('Bearer ')) return { type: 'none' }
        if (!this.serviceJwts) throw new AuthRequiredError('Service auth is not accepted here')
        const claims = await this.serviceJwts.verify(bearer(req), String(req.params.nsid))
        return { type: 'service', did: claims.iss }
      }
      case 'refresh': {
        const claims = await this.tokens.verifyRefresh(bearer(req))
        // Only the session's current token, or a spent one inside its grace, speaks for it; any other is refused
        // here, so no refresh-auth method (refreshSession, deleteSession) can do anything with it.
        if (!this.sessions.isLiveRefresh(claims)) throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
        const refresh = { jti: claims.jti, exp: claims.exp }
        return { type: 'user', did: claims.did, sessionId: claims.sessionId, scope: AuthScope.Refresh, refresh }
      }
      default: {
        const claims = await this.tokens.verifyAccess(bearer(req), ACCESS_SCOPES[kind])
        return this.liveSession(claims)
      }
    }
  }

  private liveSession(claims: { did: string; sessionId: string; scope: AuthScope }): UserCredentials {
    // A deleted session (logout, revoked app password, deleted account) invalidates its tokens at once.
    if (!this.sessions.exists(claims.sessionId, claims.did)) {
      throw new InvalidRequestError('Token has been revoked', 'ExpiredToken')
    }
    return { type: 'user', did: claims.did, sessionId: claims.sessionId, scope: claims.scope }
  }

  private async verifyAdmin(req: Request): Promise<Credentials> {
    const header = req.headers.authorization ?? ''
    const [scheme, encoded] = header.split(' ')
    if (scheme !== 'Basic' || !encoded) throw new AuthRequiredError()
    // Checked before the password, so that a guesser over the limit learns nothing, not even from the right one.
    await this.adminFailures?.assertUnder(req)
    const decoded = Buffer.from(encoded, 'base64').toString('utf8')
    const sep = decoded.indexOf(':')
    const user = decoded.slice(0, sep)
    // Digests of equal length, compared in constant time: neither the password's content nor its length leaks.
    const ok = timingSafeEqual(sha256(decoded.slice(sep + 1)), this.adminPasswordDigest) && sep > 0 && user === 'admin'
    if (!ok) {
      await this.adminFailures?.fail(req)
      throw new AuthRequiredError('Invalid admin credentials')
    }
    return { type: 'admin' }
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

function bearer(req: Request): string {
  const header = req.headers.authorization
  if (!header) throw new AuthRequiredError()
  const [scheme, token] = header.split(' ')
  if (scheme !== 'Bearer' || !token) throw new AuthRequiredError('Invalid authorization header')
  return token
}

/** The user behind credentials of a user-auth route; narrows the union for handlers. */
export function userOf(auth: Credentials): UserCredentials {
  if (auth.type !== 'user') throw new AuthRequiredError()
  return auth
}
