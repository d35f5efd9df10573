// Handle and DID resolution through @atproto/identity, loaded on first use: it is one of our heaviest imports and
// most requests never resolve anything.
//
// Outside dev mode the resolvers keep @atproto/identity's default fetch, which is SSRF-guarded (@atproto-labs/fetch-node
// safeFetchWrap): https only, default ports only, no IP-literal hosts, and every connection, redirects included, is
// refused when its name resolves to a loopback, private, link-local or other non-unicast address; answers are capped
// at 512 KiB and 10 s. In dev mode they may use plain http to local servers, which that fetch refuses, so they get the
// platform fetch instead (or the dev well-known stand-in, see dev-well-known.ts).
import type { IdResolver, MemoryCache } from '@atproto/identity'
import type { Config } from '../config/index.ts'
import { devWellKnownFetch } from './dev-well-known.ts'

export type AtprotoData = { did: string; signingKey: string; handle: string; pds: string }

export type IdentityResolverOptions = {
  plcUrl: string
  devMode: boolean
  /** Dev mode only: where handle well-known files are asked for (PDS_DEV_WELL_KNOWN_ORIGIN). */
  devWellKnownOrigin?: string
}

export class IdentityResolver {
  private readonly opts: IdentityResolverOptions
  private resolver?: Promise<{ id: IdResolver; didCache: MemoryCache }>

  constructor(opts: IdentityResolverOptions) {
    this.opts = opts
  }

  static forConfig(cfg: Config): IdentityResolver {
    return new IdentityResolver({
      plcUrl: cfg.didPlcUrl,
      devMode: cfg.devMode,
      devWellKnownOrigin: cfg.devWellKnownOrigin,
    })
  }

  private load() {
    this.resolver ??= import('@atproto/identity').then(({ IdResolver, MemoryCache }) => {
      const didCache = new MemoryCache(5 * 60 * 1000, 60 * 60 * 1000)
      const { devMode, devWellKnownOrigin } = this.opts
      const fetch = !devMode ? undefined : devWellKnownOrigin ? devWellKnownFetch(devWellKnownOrigin) : globalThis.fetch
      return { id: new IdResolver({ plcUrl: this.opts.plcUrl, timeout: 3000, didCache, ...(fetch ? { fetch } : {}) }), didCache }
    })
    return this.resolver
  }

  /**
   * The DID document, or null when the DID does not exist. `forceRefresh` skips the cache (5 min fresh, 1 h at most).
   * Throws when it cannot be resolved: the error of the resolver, with `status` when the directory answered one
   * (410 for a tombstoned did:plc).
   */
  async didDoc(did: string, forceRefresh = false): Promise<Record<string, unknown> | null> {
    return (await this.load()).id.did.resolve(did, forceRefresh) as Promise<Record<string, unknown> | null>
  }

  /** Signing key, handle and PDS endpoint from the DID document; throws when the document lacks them. */
  async atprotoData(did: string, forceRefresh = false): Promise<AtprotoData> {
    return (await this.load()).id.did.resolveAtprotoData(did, forceRefresh)
  }

  /**
   * The DID document's atproto signing key as a did:key (the key its repo commits and service JWTs are signed with).
   * Throws when the DID cannot be resolved or its document has no usable key.
   */
  async atprotoKey(did: string, forceRefresh = false): Promise<string> {
    return (await this.load()).id.did.resolveAtprotoKey(did, forceRefresh)
  }

  /** DNS TXT and https well-known resolution of a handle (never cached); undefined when neither answers. */
  async handle(handle: string): Promise<string | undefined> {
    return (await this.load()).id.handle.resolve(handle)
  }

  /** Drop the cached document of `did` (we just changed it), so the next read asks the directory. */
  async forgetDid(did: string): Promise<void> {
    if (this.resolver) await (await this.resolver).didCache.clearEntry(did)
  }
}
