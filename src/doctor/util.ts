// Small helpers every doctor check shares: bounded waits and plain-text HTTP through the public URL.
// Each network step gets its own timeout so one dead endpoint cannot stall the whole report.
import { describeNetworkError } from '../relay/notifier.ts'

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
