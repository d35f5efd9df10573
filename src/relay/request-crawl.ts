// One com.atproto.sync.requestCrawl call to a relay: what the notifier sends on its schedule and the operator's
// `npm run admin -- request-crawl` sends on demand.
import { describeNetworkError } from '../util/net.ts'

/** A relay's answer: `status` when it answered, `error` (a readable reason) unless it accepted. */
export type CrawlOutcome = { ok: boolean; status?: number; error?: string }

/**
 * POST `{hostname}` to `<relayUrl>/xrpc/com.atproto.sync.requestCrawl`. Never rejects: a refusal is `ok: false` with
 * the relay's status and `HTTP <status> <error>: <message>`, a network failure `ok: false` with the cause. An abort
 * through `signal` is a network failure too; callers that time requests out say so themselves.
 */
export async function requestCrawl(
  relayUrl: string,
  hostname: string,
  opts: { fetch?: typeof fetch; signal?: AbortSignal; userAgent: string },
): Promise<CrawlOutcome> {
  try {
    const res = await (opts.fetch ?? globalThis.fetch)(crawlEndpoint(relayUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': opts.userAgent },
      body: JSON.stringify({ hostname }),
      signal: opts.signal,
    })
    const text = await res.text()
    return res.ok ? { ok: true, status: res.status } : { ok: false, status: res.status, error: describeHttpError(res.status, text) }
  } catch (err) {
    return { ok: false, error: describeNetworkError(err) }
  }
}

function crawlEndpoint(relayUrl: string): string {
  return new URL('/xrpc/com.atproto.sync.requestCrawl', relayUrl).toString()
}

function describeHttpError(status: number, text: string): string {
  let detail = text.trim().slice(0, 200)
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown }
    if (typeof body.error === 'string') {
      detail = typeof body.message === 'string' ? `${body.error}: ${body.message}` : body.error
    }
  } catch {}
  return detail ? `HTTP ${status} ${detail}` : `HTTP ${status}`
}
