// An upstream service's error answer, passed on to our client as the reference's pipethrough does
// (@atproto/pds pipethrough.js, PipethroughUpstreamError): the upstream's status (500 becomes 502: the failure is
// not ours), its `error` name and `message` when the body is XRPC error JSON, the status's XRPC name otherwise.
import type { IncomingMessage } from 'node:http'
import zlib from 'node:zlib'
import { PdsError } from '../errors.ts'
import { forwardedResponseHeaders } from './headers.ts'
import { bufferAtMost } from './rewriter.ts'

/** Error bodies are read up to this many bytes (decoded); anything longer is not an XRPC error message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024

/** The XRPC names of statuses (@atproto/xrpc's ResponseType); other statuses are named by their class. */
const STATUS_NAMES: Record<number, [name: string, text: string]> = {
  400: ['InvalidRequest', 'Invalid Request'],
  401: ['AuthenticationRequired', 'Authentication Required'],
  403: ['Forbidden', 'Forbidden'],
  404: ['XRPCNotSupported', 'XRPC Not Supported'],
  406: ['NotAcceptable', 'Not Acceptable'],
  413: ['PayloadTooLarge', 'Payload Too Large'],
  415: ['UnsupportedMediaType', 'Unsupported Media Type'],
  429: ['RateLimitExceeded', 'Rate Limit Exceeded'],
  501: ['MethodNotImplemented', 'Method Not Implemented'],
  502: ['UpstreamFailure', 'Upstream Failure'],
  503: ['NotEnoughResources', 'Not Enough Resources'],
  504: ['UpstreamTimeout', 'Upstream Timeout'],
}

/**
 * An upstream's 4xx/5xx, to be answered with `status` (src/xrpc/errors.ts sends it as is) and the upstream's
 * atproto-repo-rev, atproto-content-labelers and retry-after headers.
 */
export class UpstreamResponseError extends PdsError {
  readonly status: number
  readonly headers: Record<string, string>

  constructor(status: number, error: string, message: string, headers: Record<string, string>) {
    super('upstream', error, message)
    this.status = status
    this.headers = headers
  }
}

/** Reads (a bounded part of) an upstream error answer and turns it into the error to send; never throws. */
export async function upstreamResponseError(upstream: IncomingMessage): Promise<UpstreamResponseError> {
  const upstreamStatus = upstream.statusCode ?? 502
  const status = upstreamStatus === 500 ? 502 : upstreamStatus
  const payload = await readErrorPayload(upstream)
  const [name, text] = STATUS_NAMES[status] ?? (status >= 500 ? STATUS_NAMES[502] : STATUS_NAMES[400])
  const headers = Object.fromEntries(forwardedResponseHeaders(upstream.headers, { content: false }))
  return new UpstreamResponseError(status, payload.error ?? name, payload.message ?? text, headers)
}

async function readErrorPayload(upstream: IncomingMessage): Promise<{ error?: string; message?: string }> {
  const type = upstream.headers['content-type'] ?? ''
  if (!/application\/(?:\w+\+)?json/i.test(type)) {
    upstream.resume() // drain, so that a keep-alive socket can be reused
    return {}
  }
  try {
    const read = await bufferAtMost(upstream, MAX_ERROR_BODY_BYTES)
    if (!read.complete) {
      upstream.destroy()
      return {} // longer than any XRPC error message: the status says it
    }
    const raw = read.body
    const text = decode(raw, upstream.headers['content-encoding']).toString('utf8')
    const body = JSON.parse(text) as { error?: unknown; message?: unknown }
    return {
      error: typeof body?.error === 'string' ? body.error : undefined,
      message: typeof body?.message === 'string' ? body.message : undefined,
    }
  } catch {
    // Unreadable, undecodable or not JSON: the status alone says what happened.
    return {}
  }
}

function decode(raw: Buffer, encoding: string | undefined): Buffer {
  const opts = { maxOutputLength: MAX_ERROR_BODY_BYTES }
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case 'identity':
      return raw
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(raw, opts)
    case 'deflate':
      return zlib.inflateSync(raw, opts)
    case 'br':
      return zlib.brotliDecompressSync(raw, opts)
    default:
      throw new Error(`unsupported content-encoding ${encoding}`)
  }
}
