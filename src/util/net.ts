// Network helpers: bounded waits, plain-text GETs that never throw, readable network errors, which hostnames other
// servers will not reach, and whose X-Forwarded-For to believe.
import proxyaddr from 'proxy-addr'
import type { TrustProxy } from '../config/index.ts'

export type Fetched = { ok: true; status: number; text: string } | { ok: false; status?: number; text?: string; error: string }

/** GET `url` as text; never throws: a network error or timeout becomes `{ ok: false, error }`. */
export async function fetchText(doFetch: typeof fetch, url: URL, timeoutMs: number): Promise<Fetched> {
  try {
    const res = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } })
    const text = await res.text()
    if (res.ok) return { ok: true, status: res.status, text }
    return { ok: false, status: res.status, text, error: `HTTP ${res.status} ${text.trim().slice(0, 120)}`.trim() }
  } catch (err) {
    const name = (err as { name?: string }).name
    return { ok: false, error: name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : describeNetworkError(err) }
  }
}

/** Rejects with a plain "no answer" error when `p` takes longer than `ms` (for promises without their own timeout). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)
    }),
  ])
}

/** URLs compared without trailing slashes: `https://pds.example.com/` names the same server as without. */
export const trimSlash = (u: string) => u.replace(/\/+$/, '')

export function describeNetworkError(err: unknown): string {
  // undici's fetch wraps the socket error ("fetch failed") with the useful part in `cause`.
  const e = err as { message?: string; cause?: { code?: string; message?: string } }
  return e.cause?.message ?? e.cause?.code ?? e.message ?? String(err)
}

/** Hostnames no other server on the internet reaches us by (relays refuse them): localhost, IP literals, bare names. */
export function isLocalOrIp(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) ||
    hostname.startsWith('[') ||
    !hostname.includes('.')
  )
}

/** PDS_TRUST_PROXY as a proxy-addr trust function; also for `app.set('trust proxy', fn)`, so `req.ip` agrees with us. */
export function trustProxyFn(trust: TrustProxy): (addr: string, hop: number) => boolean {
  if (trust === true) return () => true
  if (trust === false) return () => false
  if (typeof trust === 'number') return (_addr, hop) => hop < trust
  return proxyaddr.compile(trust)
}
