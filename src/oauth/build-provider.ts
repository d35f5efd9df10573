// The heavy half of the OAuth server, loaded in the background after startup (src/oauth/provider.ts): the provider
// itself, @atproto/oauth-provider over Aurora's stores, configured as the reference's context.js does for a PDS without
// an entryway (this PDS is both the authorization server, issuer = its public URL, and the resource server, so access
// tokens are stateful and a revoked session is refused at once), and its routes.
import type { RequestHandler } from 'express'
import { InvalidRequestError as OAuthInvalidRequestError } from '@atproto/oauth-provider/errors'
import { AccessTokenMode, OAuthProvider } from '@atproto/oauth-provider/provider'
import type { Logger } from '../logger.ts'
import { ipKey, RateLimitExceededError } from '../ratelimit/index.ts'
import { trustProxyFn } from '../util/net.ts'
import { AuroraAccountStore } from './account-store.ts'
import { oauthSigningKey } from './keys.ts'
import { oauthIssuer, type OAuthDeps, type OAuthStores } from './provider.ts'
import { createOAuthRouter } from './routes.ts'
import { clientFetch } from './safe-fetch.ts'

/** The provider over `stores`, and the Express handler of its routes. */
export async function buildOAuthProvider(
  deps: OAuthDeps,
  stores: OAuthStores,
  log: Logger,
): Promise<{ provider: OAuthProvider; routes: RequestHandler }> {
  const { cfg } = deps
  // https, or http on a loopback host (checked by the config: PDS_PUBLIC_URL).
  const issuer = oauthIssuer(cfg)
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
    accountStore: new AuroraAccountStore({
      ...deps,
      devices: stores.accountDevices,
      serviceHandleDomains: cfg.serviceHandleDomains,
    }),
    deviceStore: stores.devices,
    requestStore: stores.requests,
    tokenStore: stores.tokens,
    replayStore: stores.replay,
    lexiconStore: stores.lexicons,
    safeFetch: clientFetch(cfg.devMode),
    // The sign-in pages see the client's address as our rate limits do (PDS_TRUST_PROXY).
    trustProxy: trustProxyFn(cfg.trustProxy),
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
  return { provider, routes: createOAuthRouter(provider, issuer, log) }
}

/** The per-IP key of the rate limits for an address the provider extracted (IPv6 per /64, as ours). */
function ipOf(address: string): string {
  return ipKey(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address)
}
