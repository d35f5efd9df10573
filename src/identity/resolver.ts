// Handle and DID resolution through @atproto/identity. In dev mode (localhost) the resolvers may use plain http,
// which their default SSRF-safe fetch refuses, so they get the platform fetch instead.
import { IdResolver, MemoryCache } from '@atproto/identity'

export function createIdResolver(opts: { plcUrl: string; devMode: boolean }): IdResolver {
  return new IdResolver({
    plcUrl: opts.plcUrl,
    timeout: 3000,
    didCache: new MemoryCache(5 * 60 * 1000, 60 * 60 * 1000),
    ...(opts.devMode ? { fetch: globalThis.fetch } : {}),
  })
}
