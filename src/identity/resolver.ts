// Handle and DID resolution through @atproto/identity, loaded on first use: it is one of our heaviest imports and
// most requests never resolve anything. In dev mode (localhost) the resolvers may use plain http, which their
// default SSRF-safe fetch refuses, so they get the platform fetch instead.
import type { IdResolver } from '@atproto/identity'

export type AtprotoData = { did: string; signingKey: string; handle: string; pds: string }

export class IdentityResolver {
  private readonly plcUrl: string
  private readonly devMode: boolean
  private resolver?: Promise<IdResolver>

  constructor(opts: { plcUrl: string; devMode: boolean }) {
    this.plcUrl = opts.plcUrl
    this.devMode = opts.devMode
  }

  private load(): Promise<IdResolver> {
    this.resolver ??= import('@atproto/identity').then(
      ({ IdResolver, MemoryCache }) =>
        new IdResolver({
          plcUrl: this.plcUrl,
          timeout: 3000,
          didCache: new MemoryCache(5 * 60 * 1000, 60 * 60 * 1000),
          ...(this.devMode ? { fetch: globalThis.fetch } : {}),
        }),
    )
    return this.resolver
  }

  /** The DID document, or null when the DID does not exist. */
  async didDoc(did: string, forceRefresh = false): Promise<Record<string, unknown> | null> {
    return (await this.load()).did.resolve(did, forceRefresh) as Promise<Record<string, unknown> | null>
  }

  /** Signing key, handle and PDS endpoint from the DID document; throws when the document lacks them. */
  async atprotoData(did: string, forceRefresh = false): Promise<AtprotoData> {
    return (await this.load()).did.resolveAtprotoData(did, forceRefresh)
  }

  /** DNS TXT and https well-known resolution of a handle; undefined when neither answers. */
  async handle(handle: string): Promise<string | undefined> {
    return (await this.load()).handle.resolve(handle)
  }
}
