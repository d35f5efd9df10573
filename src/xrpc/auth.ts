// Who may call a method. Each route names one AuthKind; the verifier turns the request's Authorization header into
// Credentials or throws the reference PDS's error for it. Routes taking an account's login also take an OAuth access
// token (`Authorization: DPoP <token>` with its DPoP proof), as the reference's `authorization()` verifier does; what
// such a token may do is the route's OAuth rule (src/xrpc/oauth-rules.ts), applied by the router.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { OAuthVerifier } from '@atproto/oauth-provider/verifier'
import type { ScopePermissionsTransition } from '@atproto/oauth-scopes'
import { isValidDid } from '@atproto/syntax'
import type { Request, Response } from 'express'
import type { AccountRow } from '../account/account-store.ts'
import { ACCESS_FULL, ACCESS_PRIVILEGED, ACCESS_STANDARD, AuthScope } from '../account/scopes.ts'
import type { SessionService } from '../account/sessions.ts'
import type { TokenService } from '../account/tokens.ts'
import type { ServiceJwtVerifier } from '../identity/service-jwt.ts'
import type { FailureGuard } from '../ratelimit/index.ts'
import { AuthRequiredError, ForbiddenError, InvalidRequestError, PdsError } from '../errors.ts'
import { XRPCError } from './errors.ts'

export type AuthKind =
  | 'none' // anyone
  | 'access' // any login, app passwords included
  | 'accessPrivileged' // a real login or a privileged app password
  | 'accessFull' // a real login only: managing the account
  | 'refresh' // the refresh token of a session
  | 'admin' // HTTP Basic admin:<PDS_ADMIN_PASSWORD>
  | 'optionalAccessOrAdmin' // a login (app passwords included) or the operator when credentials are sent, anyone otherwise (see `rejected`)
  | 'optionalServiceAuth' // a service JWT for this method when a Bearer token is sent (it must verify), anyone otherwise

/** The kinds that take an account's login, and so an OAuth access token too (the reference's `authorization*`). */
export const OAUTH_KINDS: ReadonlySet<AuthKind> = new Set([
  'access',
  'accessPrivileged',
  'accessFull',
  'optionalAccessOrAdmin',
])

export type UserCredentials = {
  type: 'user'
  did: string
  sessionId: string
  scope: AuthScope
  /** Only for refresh credentials: the token's id and expiry (epoch s); SessionService decides if it is still live. */
  refresh?: { jti: string; exp: number }
}
/** A verified OAuth access token (DPoP-bound): its account, its client, and what its scopes allow. */
export type OAuthCredentials = {
  type: 'oauth'
  did: string
  /** The client the token was issued to (its client_id, a URL), when the token names one. */
  clientId: string | undefined
  permissions: ScopePermissionsTransition
}
/** An account's own credentials: a session (login or app password) or an OAuth token. */
export type AccountCredentials = UserCredentials | OAuthCredentials
export type Credentials =
  /**
   * Anonymous. `rejected`: with optionalAccessOrAdmin, the error the credentials sent failed with; the handler throws
   * it only where the credentials matter (an inactive repo), so bad credentials never spoil a public read.
   */
  | { type: 'none'; rejected?: PdsError | XRPCError }
  | { type: 'admin' }
  | AccountCredentials
  /** A verified service JWT: `did` is its issuer (an account's old PDS speaking for the account, when it migrates). */
  | { type: 'service'; did: string }

/** What checks OAuth access tokens: the OAuth provider (its OAuthVerifier side, @atproto/oauth-provider). */
export type OAuthTokenVerifier = Pick<OAuthVerifier, 'authenticateRequest' | 'nextDpopNonce'>

export type AuthVerifierOptions = {
  tokens: TokenService
  sessions: SessionService
  adminPassword: string
  /** Counts wrong admin passwords per client and refuses (429) any once over its limit. */
  adminFailures?: FailureGuard
  /** Verifies service JWTs (optionalServiceAuth); without it such tokens are refused. */
  serviceJwts?: ServiceJwtVerifier
  /** This server's public URL: DPoP proofs are made out (`htu`) to it, not to the address behind a reverse proxy. */
  publicUrl: string
  /** This server's DID: the audience an OAuth access token must name. */
  serviceDid: string
  /** The account behind an OAuth token (its status is checked: tokens outlive a takedown, sessions do not). */
  accountByDid: (did: string) => AccountRow | undefined
  /** Verifies OAuth access tokens and their DPoP proofs; without it DPoP credentials are refused. */
  oauth?: OAuthTokenVerifier
}

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
  private readonly publicUrl: string
  private readonly serviceDid: string
  private readonly accountByDid: (did: string) => AccountRow | undefined
  private readonly oauthVerifier?: OAuthTokenVerifier

  constructor(opts: AuthVerifierOptions) {
    this.tokens = opts.tokens
    this.sessions = opts.sessions
    this.adminPasswordDigest = sha256(opts.adminPassword)
    this.adminFailures = opts.adminFailures
    this.serviceJwts = opts.serviceJwts
    this.publicUrl = opts.publicUrl
    this.serviceDid = opts.serviceDid
    this.accountByDid = opts.accountByDid
    this.oauthVerifier = opts.oauth
  }

  /**
   * The request's credentials for a route of `kind`, or the reference's error for them. `res` receives the DPoP-Nonce
   * header of an OAuth request (without it, e.g. outside XRPC, no DPoP is accepted). OAuth credentials are only given
   * for OAUTH_KINDS; the route's OAuth rule is for the caller to apply.
   */
  async verify(kind: AuthKind, req: Request, res?: Response): Promise<Credentials> {
    if (res && OAUTH_KINDS.has(kind) && isDpop(req)) {
      if (kind !== 'optionalAccessOrAdmin') return this.verifyOAuth(req, res)
      try {
        return await this.verifyOAuth(req, res)
      } catch (err) {
        if (err instanceof PdsError || err instanceof XRPCError) return { type: 'none', rejected: err }
        throw err
      }
    }
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
        // (an access token is refused by its type); other schemes, or none, call anonymously, except DPoP, which the
        // reference refuses as it refuses any header it cannot use there.
        if (isDpop(req)) throw new AuthRequiredError('Invalid authorization header')
        if (!req.headers.authorization?.startsWith('Bearer ')) return { type: 'none' }
        if (!this.serviceJwts) throw new AuthRequiredError('Service auth is not accepted here')
        const claims = await this.serviceJwts.verify(bearer(req), String(req.params.nsid))
        return { type: 'service', did: claims.iss }
      }
      case 'refresh': {
        // The reference finds no Bearer token in a DPoP header: AuthMissing.
        if (isDpop(req)) throw new AuthRequiredError(undefined, 'AuthMissing')
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

  /**
   * An OAuth access token, as the reference's AuthVerifier.oauth (@atproto/pds auth-verifier.js): the proof is checked
   * against the URL the client called (our public URL and the request's path and query), the token must be for this
   * server (aud) with the `atproto` scope. The provider's errors keep their OAuth names (invalid_token,
   * use_dpop_nonce, invalid_dpop_proof…), status and WWW-Authenticate header, so that a client can retry with a nonce.
   */
  private async verifyOAuth(req: Request, res: Response): Promise<OAuthCredentials> {
    // The reference's parseAuthorizationHeader: exactly "<type> <token>".
    if (req.headers.authorization!.split(' ').length !== 2) {
      throw new InvalidRequestError('Malformed authorization header', 'InvalidToken')
    }
    if (!this.oauthVerifier) throw new InvalidRequestError('Unexpected authorization type', 'InvalidToken')
    // https://datatracker.ietf.org/doc/html/rfc9449#section-8.2: a fresh nonce with every answer.
    const nonce = this.oauthVerifier.nextDpopNonce()
    if (nonce) {
      res.setHeader('DPoP-Nonce', nonce)
      res.append('Access-Control-Expose-Headers', 'DPoP-Nonce')
    }
    const url = new URL(req.originalUrl || req.url || '/', this.publicUrl)
    let payload: Awaited<ReturnType<OAuthTokenVerifier['authenticateRequest']>>
    try {
      payload = await this.oauthVerifier.authenticateRequest(req.method || 'GET', url, req.headers, {
        audience: [this.serviceDid],
        scope: ['atproto'],
      })
    } catch (err) {
      throw await fromOAuthError(err)
    }
    const did = payload.sub
    if (typeof did !== 'string' || !isValidDid(did)) throw new InvalidRequestError('Malformed token', 'InvalidToken')
    // Sessions end with a takedown; access tokens are checked here instead (the reference's checkTakedown).
    const account = this.accountByDid(did)
    if (!account) throw new ForbiddenError('Account not found', 'AccountNotFound')
    if (account.takedown_ref) throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
    // Loaded with the first OAuth request rather than at startup (150 ms).
    const { ScopePermissionsTransition } = await import('@atproto/oauth-scopes')
    const permissions = new ScopePermissionsTransition(payload.scope?.split(' '))
    if (!permissions.scopes.has('atproto')) {
      throw new InvalidRequestError('OAuth token does not have "atproto" scope', 'InvalidToken')
    }
    return { type: 'oauth', did, clientId: payload.client_id, permissions }
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

/**
 * The provider's OAuthError as the XRPC error the reference sends: `{error: <OAuth error code>, message: <its
 * description>}` with its status, and its WWW-Authenticate challenge (exposed to browser clients). Anything else is
 * passed on unchanged.
 */
async function fromOAuthError(err: unknown): Promise<unknown> {
  // Loaded here, not at startup: the provider that threw has loaded it already.
  const { OAuthError, WWWAuthenticateError } = await import('@atproto/oauth-provider/errors')
  if (!(err instanceof OAuthError)) return err
  const headers =
    err instanceof WWWAuthenticateError
      ? { 'WWW-Authenticate': err.wwwAuthenticateHeader, 'Access-Control-Expose-Headers': 'WWW-Authenticate' }
      : undefined
  return new XRPCError(err.status, err.error, err.error_description, headers)
}

/** Whether the Authorization header is of the DPoP scheme (case-insensitive, as the reference reads it). */
function isDpop(req: Request): boolean {
  const header = req.headers.authorization
  return typeof header === 'string' && header.split(' ', 1)[0].toUpperCase() === 'DPOP'
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

/** The account behind credentials of a user-auth route (a session or an OAuth token); narrows the union for handlers. */
export function userOf(auth: Credentials): AccountCredentials {
  if (auth.type !== 'user' && auth.type !== 'oauth') throw new AuthRequiredError()
  return auth
}

/** The session behind credentials of a refresh-auth route (never OAuth: those routes refuse DPoP). */
export function sessionOf(auth: Credentials): UserCredentials {
  if (auth.type !== 'user') throw new AuthRequiredError()
  return auth
}

/** The account a request speaks for, if any: what per-account rate limits and ownership checks key on. */
export function accountDid(auth: Credentials): string | null {
  return auth.type === 'user' || auth.type === 'oauth' ? auth.did : null
}
