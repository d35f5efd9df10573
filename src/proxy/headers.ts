// Which headers cross the proxy, in each direction: the reference's lists (@atproto/pds pipethrough.js,
// proxyHandler's request headers and RES_HEADERS_TO_FORWARD). Nothing else passes: not the client's cookies or
// credentials, not the upstream's cookies or CORS headers.
import type { IncomingHttpHeaders } from 'node:http'

/** Request headers passed on as the client sent them. */
const REQUEST_HEADERS = ['accept-language', 'atproto-accept-labelers', 'x-bsky-topics'] as const
/** Request headers that describe a body: passed only with one. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-length'] as const
/** Response headers that describe the body: not sent with an error answer, whose body is ours. */
const RESPONSE_CONTENT_HEADERS = ['content-length', 'content-encoding', 'content-type', 'content-language'] as const
/** Response headers always passed back. */
const RESPONSE_HEADERS = ['atproto-repo-rev', 'atproto-content-labelers', 'retry-after'] as const

/**
 * The headers of the upstream request, but for authorization. `acceptEncoding`: what to ask the upstream for; the
 * client's own choice when we only stream bytes through, `identity` when we may have to read the answer.
 */
export function forwardedRequestHeaders(
  incoming: IncomingHttpHeaders,
  opts: { withBody: boolean; acceptEncoding?: string },
): Record<string, string> {
  const out: Record<string, string> = { 'accept-encoding': opts.acceptEncoding ?? single(incoming['accept-encoding']) ?? 'identity' }
  for (const name of REQUEST_HEADERS) copy(incoming, out, name)
  if (opts.withBody) for (const name of BODY_HEADERS) copy(incoming, out, name)
  return out
}

/** The upstream response's headers to send to the client, lowercased; `content: false` for an error answer. */
export function* forwardedResponseHeaders(
  upstream: IncomingHttpHeaders,
  opts: { content: boolean } = { content: true },
): Generator<[string, string]> {
  const names = opts.content ? [...RESPONSE_CONTENT_HEADERS, ...RESPONSE_HEADERS] : RESPONSE_HEADERS
  for (const name of names) {
    const value = upstream[name]
    if (value !== undefined && value !== '') yield [name, Array.isArray(value) ? value.join(',') : value]
  }
}

/** node's header object as a fetch Headers (for the rewriter hook). */
export function toHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers()
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) out.append(name, v)
  }
  return out
}

function copy(from: IncomingHttpHeaders, to: Record<string, string>, name: string): void {
  const value = single(from[name])
  if (value !== undefined) to[name] = value
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}
