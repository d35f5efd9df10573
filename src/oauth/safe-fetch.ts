// How the authorization server fetches what clients point it at (client metadata documents, their JWKS, lexicons of
// permission sets): user-chosen URLs, so with the reference's guard (@atproto-labs/fetch-node's safeFetchWrap):
// https on the default port to public unicast addresses only, a timeout, a size cap, no implicit redirects. In dev
// mode loopback and plain http are allowed, so that a client running on this machine can be tested.
import { safeFetchWrap } from '@atproto/oauth-provider/provider'

/** How long one fetch of a client's document may take, redirects included (ms). */
export const CLIENT_FETCH_TIMEOUT_MS = 10_000

/** The largest client document accepted (bytes); client metadata is a few KB. The reference's default. */
export const CLIENT_FETCH_MAX_BYTES = 512 * 1024

/**
 * The provider's `safeFetch`. `devMode`: no SSRF guard (http, loopback and private addresses, any port). Not to be
 * wrapped further (safeFetchWrap needs to see the caller's explicit `redirect` mode).
 */
export function clientFetch(devMode: boolean): typeof globalThis.fetch {
  return safeFetchWrap({
    fetch: globalThis.fetch,
    ssrfProtection: !devMode,
    // Clients are found by hostname: an IP address as client_id host is not a published client.
    allowIpHost: devMode,
    allowImplicitRedirect: false,
    responseMaxSize: CLIENT_FETCH_MAX_BYTES,
    timeout: CLIENT_FETCH_TIMEOUT_MS,
  }) as typeof globalThis.fetch
}
