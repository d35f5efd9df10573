// Builds the OAuth authorization server: @atproto/oauth-provider (the reference PDS's library, with its sign-in,
// consent and account pages) over Aurora's stores, configured as the reference's context.js does for a PDS without
// an entryway: this PDS is both the authorization server (issuer = its public URL) and the resource server, so access
// tokens are stateful and a revoked session is refused at once.
import { AccessTokenMode, OAuthProvider } from '@atproto/oauth-provider/provider'
import { InvalidRequestError as OAuthInvalidRequestError } from '@atproto/oauth-provider/errors'
import type { AccountStore } from '../account/account-store.ts'
import type { Config } from '../config/index.ts'
import type { Db } from '../db/index.ts'
import { ipKey, RateLimitExceededError, type RateLimiter } from '../ratelimit/index.ts'
import { imageUrlBuilder } from '../read-after-write/image-url.ts'
import type { RepoService } from '../repo/repo-service.ts'
import { trustProxyFn } from '../util/net.ts'
import { AccountDevices } from './account-devices.ts'
import { AuroraAccountStore, type AuroraAccountStoreDeps } from './account-store.ts'
import { AccountViews } from './account-view.ts'
import { SqliteDeviceStore } from './device-store.ts'
import { oauthSigningKey } from './keys.ts'
import { SqliteLexiconStore } from './lexicon-store.ts'
import { SqliteReplayStore } from './replay-store.ts'
import { SqliteRequestStore } from './request-store.ts'
import { clientFetch } from './safe-fetch.ts'
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

/** The authorization server, and the stores the rest of the server uses directly (status page, housekeeping). */
export type OAuthServer = {
  provider: OAuthProvider
  /** OAuth sessions: counted on the status page, pruned by maintenance. */
  tokens: SqliteTokenStore
  /** One-time DPoP values: pruned by maintenance. */
  replay: SqliteReplayStore
}

/** The issuer: the public URL's origin (the provider refuses a path, and a trailing slash breaks clients' checks). */
export function oauthIssuer(cfg: Pick<Config, 'publicUrl'>): string {
  return new URL(cfg.publicUrl).origin
}

/** Build the provider over Aurora's stores. */
export async function createOAuthServer(deps: OAuthDeps): Promise<OAuthServer> {
  const { cfg, db, tokens } = deps
  // https, or http on a loopback host (checked by the config: PDS_PUBLIC_URL).
  const issuer = oauthIssuer(cfg)
  const devices = new AccountDevices(db)
  const replay = new SqliteReplayStore(db)
  const trust = trustProxyFn(cfg.trustProxy)
  const links = [
    cfg.links.termsOfService && { title: 'Terms of Service', href: cfg.links.termsOfService, rel: 'terms-of-service' },
    cfg.links.privacyPolicy && { title: 'Privacy Policy', href: cfg.links.privacyPolicy, rel: 'privacy-policy' },
  ].filter((l) => !!l)
  const spend = (limits: { limit: 'login' | 'loginIp' | 'createAccount'; key: string }[]) =>
    deps.rateLimiter.consume(limits.map((l) => ({ ...l, points: 1 }))).catch((err: unknown) => {
      if (err instanceof RateLimitExceededError) {
        throw new OAuthInvalidRequestError('Too many attempts, please try again later', err)
      }
      throw err
    })
  const provider = new OAuthProvider({
    issuer,
    keyset: [await oauthSigningKey(cfg.secrets.oauthSigningKeyHex)],
    dpopSecret: cfg.secrets.dpopSecret,
    accessTokenMode: AccessTokenMode.stateful,
    accountStore: new AuroraAccountStore({ ...deps, devices, serviceHandleDomains: cfg.serviceHandleDomains }),
    deviceStore: new SqliteDeviceStore(db),
    requestStore: new SqliteRequestStore(db),
    tokenStore: tokens,
    replayStore: replay,
    lexiconStore: new SqliteLexiconStore(db),
    safeFetch: clientFetch(cfg.devMode),
    // The sign-in pages see the client's address as our rate limits do (PDS_TRUST_PROXY).
    trustProxy: trust,
    inviteCodeRequired: cfg.inviteRequired,
    availableUserDomains: [...cfg.serviceHandleDomains],
    branding: { name: 'Aurora Locus', links },
    metadata: { protected_resources: [issuer] },
    // Password guesses through the sign-in page spend createSession's budgets (per account and address, and per
    // address), and sign-ups createAccount's, so the pages are no way around the XRPC limits.
    onSignInAttempt: async ({ data, deviceMetadata }) => {
      const ip = ipOf(deviceMetadata.ipAddress)
      const subject = deps.accounts.byLoginIdentifier(data.username)?.did ?? data.username.trim().toLowerCase()
      await spend([
        { limit: 'login', key: `${subject} ${ip}` },
        { limit: 'loginIp', key: ip },
      ])
    },
    onSignUpAttempt: async ({ deviceMetadata }) => {
      await spend([{ limit: 'createAccount', key: ipOf(deviceMetadata.ipAddress) }])
    },
  })
  return { provider, tokens, replay }
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

/** The per-IP key of the rate limits for an address the provider extracted (IPv6 per /64, as ours). */
function ipOf(address: string): string {
  return ipKey(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address)
}
