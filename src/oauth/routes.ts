// The OAuth routes, as the reference's auth-routes.js: the protected resource metadata (which authorization server
// issues tokens for this PDS: itself), and the provider's own middleware, which serves
// /.well-known/oauth-authorization-server, /oauth/{par,authorize,token,revoke,jwks}, the sign-in UI's assets and API
// (/@atproto/oauth-provider/~api/...) and the account pages (/account). Mounted before CORS and everything else: the
// provider sets its own CORS headers, reads its own request bodies, and answers 404 by passing the request on.
import { Router } from 'express'
import {
  HandleUnavailableError,
  InvalidRequestError,
  SecondAuthenticationFactorRequiredError,
  UseDpopNonceError,
} from '@atproto/oauth-provider/errors'
import { oauthMiddleware } from '@atproto/oauth-provider/middleware'
import type { OAuthProvider } from '@atproto/oauth-provider/provider'
import { buildProtectedResourceMetadata } from '@atproto/oauth-provider/utils'
import type { Logger } from '../logger.ts'

export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource'

/** `issuer`: this PDS's OAuth issuer, which is also the resource its tokens are for. */
export function createOAuthRouter(provider: OAuthProvider, issuer: string, log: Logger): Router {
  const router = Router()
  // The issuer's shape was checked with the config (PDS_PUBLIC_URL), so this cannot throw at startup.
  const metadata = buildProtectedResourceMetadata({
    resource: issuer,
    authorization_servers: [issuer],
    bearer_methods_supported: ['header'],
    scopes_supported: [],
    resource_documentation: 'https://atproto.com',
  })
  router.get(PROTECTED_RESOURCE_PATH, (_req, res) => {
    // Browser apps read it from any origin.
    res.setHeader('Access-Control-Allow-Origin', '*')
    res.setHeader('Access-Control-Allow-Method', '*')
    res.setHeader('Access-Control-Allow-Headers', '*')
    res.status(200).json(metadata)
  })
  router.use(
    oauthMiddleware(provider, {
      onError: (req, _res, err, message) => {
        if (isExpected(err)) return
        log.error({ err, method: req.method, url: req.url }, message)
      },
    }),
  )
  return router
}

/** Ordinary traffic, as the reference counts it: a wrong password, the DPoP nonce handshake, a taken handle. */
function isExpected(err: unknown): boolean {
  if (err instanceof InvalidRequestError) return err.error_description === 'Invalid identifier or password'
  return (
    err instanceof UseDpopNonceError ||
    err instanceof HandleUnavailableError ||
    err instanceof SecondAuthenticationFactorRequiredError
  )
}
