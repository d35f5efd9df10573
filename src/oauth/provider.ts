// The OAuth authorization server: @atproto/oauth-provider (the reference PDS's library, with its sign-in, consent and
// account pages) over Aurora's stores. The stores are built with the other services; the provider's modules take
// about a second and ~40 MiB to load, so the provider itself (build-provider.ts) is loaded by the first request that
// needs it (an OAuth route, or an XRPC call with an OAuth token), not at startup: a server whose users sign in with
// passwords never pays for it. Its routes and token checks wait for it; nothing else does.
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { OAuthProvider } from '@atproto/oauth-provider/provider'
import type { AccountStore } from '../account/account-store.ts'
import type { Config } from '../config/index.ts'
import type { Db } from '../db/index.ts'
import type { Logger } from '../logger.ts'
import type { RateLimiter } from '../ratelimit/index.ts'
import { imageUrlBuilder } from '../read-after-write/image-url.ts'
import type { RepoService } from '../repo/repo-service.ts'
import { AccountDevices } from './account-devices.ts'
import type { AuroraAccountStoreDeps } from './account-store.ts'
import { AccountViews } from './account-view.ts'
import { SqliteDeviceStore } from './device-store.ts'
import { SqliteLexiconStore } from './lexicon-store.ts'
import { SqliteReplayStore } from './replay-store.ts'
import { SqliteRequestStore } from './request-store.ts'
import { SqliteTokenStore } from './token-store.ts'

/**
 * The account services the sign-in and account pages use (AuroraAccountStoreDeps), with `views` and `tokens` built
 * before them (oauthSessionStores), since the services end sessions through `tokens`.
 */
export type OAuthDeps = Omit<AuroraAccountStoreDeps, 'devices' | 'serviceHandleDomains'> & {
  cfg: Config
  db: Db
  store: AccountStore
  rateLimiter: RateLimiter
}

/** Every store the provider uses, over the one SQLite database. */
export type OAuthStores = {
  tokens: SqliteTokenStore
  replay: SqliteReplayStore
  requests: SqliteRequestStore
  devices: SqliteDeviceStore
  accountDevices: AccountDevices
  lexicons: SqliteLexiconStore
}

/** What checks OAuth access tokens on XRPC calls (src/xrpc/auth.ts's OAuthTokenVerifier). */
export type OAuthTokenChecks = Pick<OAuthProvider, 'authenticateRequest' | 'nextDpopNonce'>

export type OAuthServer = {
  /**
   * The provider, loaded on first use (the first OAuth request waits about a second for it, once per process).
   * Rejects if it could not be built (logged once).
   */
  provider: () => Promise<OAuthProvider>
  /**
   * The provider's token checks. Until it has loaded (before the process's first OAuth request) `nextDpopNonce` has
   * no nonce to give, so that first DPoP request gets no DPoP-Nonce header (the client is asked for one on its next
   * try); the check itself waits for the provider.
   */
  verifier: OAuthTokenChecks
  /**
   * The OAuth routes (metadata documents, /oauth/*, the pages' assets and API, /account): waits for the provider on
   * those paths only, and passes every other request on at once.
   */
  routes: RequestHandler
  /** OAuth sessions: counted on the status page, pruned by maintenance. */
  tokens: SqliteTokenStore
  /** One-time DPoP values: pruned by maintenance. */
  replay: SqliteReplayStore
}

/** The issuer: the public URL's origin (the provider refuses a path, and a trailing slash breaks clients' checks). */
export function oauthIssuer(cfg: Pick<Config, 'publicUrl'>): string {
  return new URL(cfg.publicUrl).origin
}

/** Paths the provider serves (oauth-provider's routers, and the protected resource metadata of routes.ts). */
const OAUTH_PATHS = /^\/(?:\.well-known\/(?:oauth-authorization-server|oauth-protected-resource|change-password)$|oauth\/|@atproto\/|account(?:\/|$))/

/** Build the stores now; the provider is built on first use (see OAuthServer). */
export function createOAuthServer(deps: OAuthDeps, log: Logger): OAuthServer {
  const { db, tokens } = deps
  const stores: OAuthStores = {
    tokens,
    replay: new SqliteReplayStore(db),
    requests: new SqliteRequestStore(db),
    devices: new SqliteDeviceStore(db),
    accountDevices: new AccountDevices(db),
    lexicons: new SqliteLexiconStore(db),
  }
  let loaded: { provider: OAuthProvider; routes: RequestHandler } | undefined
  let loading: Promise<{ provider: OAuthProvider; routes: RequestHandler }> | undefined
  const load = () => {
    if (!loading) {
      loading = import('./build-provider.ts')
        .then((m) => m.buildOAuthProvider(deps, stores, log))
        .then((built) => (loaded = built))
      // Logged once here; each request that needed it gets the error too.
      loading.catch((err) => log.error({ err }, 'the OAuth provider could not be built: OAuth is unavailable'))
    }
    return loading
  }
  const routes: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (!OAUTH_PATHS.test(req.path)) return next()
    if (loaded) return loaded.routes(req, res, next)
    load().then((built) => built.routes(req, res, next), next)
  }
  return {
    provider: () => load().then((built) => built.provider),
    verifier: {
      nextDpopNonce: () => loaded?.provider.nextDpopNonce(),
      authenticateRequest: async (...args) => (loaded ?? (await load())).provider.authenticateRequest(...args),
    },
    routes,
    tokens,
    replay: stores.replay,
  }
}

/**
 * What must exist before the account services: the account views and the OAuth session store, through which a
 * takedown, a password reset or a deactivation ends the account's OAuth sessions.
 */
export function oauthSessionStores(deps: {
  cfg: Config
  db: Db
  store: AccountStore
  repo: Pick<RepoService, 'readRecord'>
}): { views: AccountViews; tokens: SqliteTokenStore } {
  const { cfg } = deps
  const views = new AccountViews({
    store: deps.store,
    repo: deps.repo,
    serviceDid: cfg.serviceDid,
    imageUrl: imageUrlBuilder({ publicUrl: cfg.publicUrl, cdnUrlPattern: cfg.proxy.appViewCdnUrlPattern }),
  })
  return { views, tokens: new SqliteTokenStore(deps.db, (did) => views.byDid(did, { withProfile: false })) }
}
