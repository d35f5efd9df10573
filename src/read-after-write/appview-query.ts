// A small AppView client for what the local views cannot build themselves: the post, feed or list a local post
// quotes (the reference's LocalViewer asks `bskyAppView.client` the same, with a service-auth JWT for the caller).
import type { ServiceAuth } from '../identity/service-auth.ts'
import { trimSlash } from '../util/net.ts'

/** One XRPC query to the AppView on behalf of `caller`: its JSON answer (unvalidated), or a rejection. */
export type AppViewQuery = (caller: string, nsid: string, params: Record<string, string>) => Promise<unknown>

export type AppViewQueryOptions = {
  /** The AppView's base URL (from config, so trusted: no SSRF checks here). */
  url: string
  /** Its DID: the `aud` of the service JWT. */
  did: string
  serviceAuth: Pick<ServiceAuth, 'create'>
  /** Per call; the rewrite of a whole answer waits for the slowest. Default 5 s. */
  timeoutMs?: number
  /** Largest answer read, bytes. Default 1 MiB (one post, feed or list view is a few KiB). */
  maxBytes?: number
}

export function appViewQuery(opts: AppViewQueryOptions): AppViewQuery {
  const base = trimSlash(opts.url)
  const timeoutMs = opts.timeoutMs ?? 5_000
  const maxBytes = opts.maxBytes ?? 1024 * 1024
  return async (caller, nsid, params) => {
    const url = new URL(`${base}/xrpc/${nsid}`)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    const token = await opts.serviceAuth.create(caller, opts.did, nsid)
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await readCapped(res, maxBytes)
    if (res.status !== 200) throw new Error(`${nsid}: AppView answered ${res.status}`)
    return JSON.parse(text) as unknown
  }
}

/** The body as text; rejects once it grows past `maxBytes` (and stops reading). */
async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return ''
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of res.body) {
    total += chunk.length
    // Leaving the loop by a throw cancels the stream: the rest is never read.
    if (total > maxBytes) throw new Error(`AppView answer larger than ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
