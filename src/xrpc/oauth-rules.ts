// What an OAuth access token needs to call a method: the route table's OAuth column. The reference PDS says it in
// each handler's `authorize` (@atproto/pds api/**, `ctx.authVerifier.authorization({ authorize })`); these rules are
// the same checks, named, so that one table line shows them. A check that needs the JSON body (repo writes, push
// registration) is made by the handler, where the reference makes it (`inHandler`).
import type {
  AccountPermissionMatch,
  IdentityPermissionMatch,
  ScopePermissionsTransition,
} from '@atproto/oauth-scopes'
import { ForbiddenError, InvalidRequestError } from '../errors.ts'

/** What a rule may look at: the request as the router has it before the body is read. */
export type OAuthCheckArgs = {
  /** The method called. */
  nsid: string
  /** Its validated query parameters. */
  params: Record<string, unknown>
  /** A request header (lower-case name), e.g. content-type or atproto-proxy. */
  header: (name: string) => string | undefined
  /**
   * The `did#service` a call to `nsid` is made for, as the reference's computeProxyTo: the atproto-proxy header, else
   * the configured service for its namespace (`<AppView DID>#bsky_appview`…); undefined when there is neither.
   */
  rpcAudience: (nsid: string) => string | undefined
}

export type OAuthRule =
  /** The method takes no account credentials (public, operator, refresh token, service JWT): DPoP is not accepted. */
  | { type: 'none' }
  /** Any OAuth token with the `atproto` scope may call it. */
  | { type: 'always' }
  /** Accepted here; the handler asserts what the JSON body asks for (repo writes, push services). */
  | { type: 'inHandler' }
  /** Refused whatever the scopes: 403 Forbidden with the reference's message. */
  | { type: 'refused'; message: string }
  /** Allowed when `check` passes; it throws ScopeMissingError (403) naming the scope that is missing. */
  | { type: 'check'; describe: string; check: (permissions: ScopePermissionsTransition, args: OAuthCheckArgs) => void }

/** The reference's refusal for account management with OAuth credentials. */
export const OAUTH_NOT_SUPPORTED = 'OAuth credentials are not supported for this endpoint'

/** The rules, by name, for the route table. */
export const oauth = {
  none: { type: 'none' } as OAuthRule,
  always: { type: 'always' } as OAuthRule,
  inHandler: { type: 'inHandler' } as OAuthRule,
  refused: (message: string = OAUTH_NOT_SUPPORTED): OAuthRule => ({ type: 'refused', message }),
  /** `account:<attr>?action=<action>`. */
  account: (attr: AccountPermissionMatch['attr'], action: AccountPermissionMatch['action']): OAuthRule => ({
    type: 'check',
    describe: `account:${attr}?action=${action}`,
    check: (p) => p.assertAccount({ attr, action }),
  }),
  /** `identity:<attr>`. */
  identity: (attr: IdentityPermissionMatch['attr']): OAuthRule => ({
    type: 'check',
    describe: `identity:${attr}`,
    check: (p) => p.assertIdentity({ attr }),
  }),
  /**
   * `rpc:<this method>?aud=<its service>`: methods the reference forwards to (or, for preferences, keeps for) the
   * AppView. With no service to name (no AppView configured, no atproto-proxy) we still serve the method, where the
   * reference refuses it; then only a permission valid for any audience (`aud=*`, transition:generic) will do.
   */
  rpc: {
    type: 'check',
    describe: 'rpc:<method>?aud=<service>',
    check: (p, args) => p.assertRpc({ aud: args.rpcAudience(args.nsid) ?? '*', lxm: args.nsid }),
  } as OAuthRule,
  /** getServiceAuth: `rpc:<lxm>?aud=<aud>` of the token asked for (`lxm` absent: any method, `*`). */
  serviceAuth: {
    type: 'check',
    describe: 'rpc:<lxm>?aud=<aud> (params)',
    check: (p, { params }) =>
      p.assertRpc({ aud: String(params.aud), lxm: typeof params.lxm === 'string' ? params.lxm : '*' }),
  } as OAuthRule,
  /** uploadBlob: `blob:<declared Content-Type>`, checked before the body is read, as the reference does. */
  blob: {
    type: 'check',
    describe: 'blob:<content-type>',
    check: (p, { header }) => p.assertBlob({ mime: declaredEncoding(header('content-type')) }),
  } as OAuthRule,
} as const

/**
 * Applies `rule` to an OAuth caller. Throws ForbiddenError (refused), ScopeMissingError (a scope is missing; the
 * error mapping answers 403 ScopeMissingError), InvalidRequest (uploadBlob without a Content-Type); returns if allowed.
 */
export function authorizeOAuth(rule: OAuthRule, permissions: ScopePermissionsTransition, args: OAuthCheckArgs): void {
  switch (rule.type) {
    case 'always':
    case 'inHandler':
      return
    case 'refused':
      throw new ForbiddenError(rule.message)
    case 'check':
      return rule.check(permissions, args)
    case 'none':
      // The verifier gives no OAuth credentials to such a route; reaching this is a route table mistake.
      throw new ForbiddenError(OAUTH_NOT_SUPPORTED)
  }
}

/** The media type of a Content-Type header, lower-cased without parameters (xrpc-server's parseReqEncoding). */
function declaredEncoding(header: string | undefined): string {
  const type = (header ?? '').split(';')[0].trim().toLowerCase()
  if (!type) throw new InvalidRequestError('Request encoding (Content-Type) required but not provided')
  return type
}
