// XRPC errors: always `{error, message}` JSON with the reference PDS's names and statuses. Domain errors
// (src/errors.ts) carry a name and a kind; the kind decides the status here.
import type { ScopeMissingError } from '@atproto/oauth-scopes'
import { InternalServerError, InvalidRequestError, PayloadTooLargeError, PdsError, type ErrorKind } from '../errors.ts'
import { UpstreamResponseError } from '../proxy/upstream-error.ts'
import { RateLimitExceededError, refusalHeaders } from '../ratelimit/index.ts'

export {
  AuthRequiredError,
  InternalServerError,
  InvalidRequestError,
  IdleTimeoutError,
  MethodNotImplementedError,
  NotEnoughResourcesError,
  PayloadTooLargeError,
  PdsError,
  UpstreamFailureError,
  UpstreamTimeoutError,
} from '../errors.ts'

/** An error with its HTTP status and headers, ready to send. */
export class XRPCError extends Error {
  readonly status: number
  readonly error: string
  readonly headers?: Record<string, string>

  constructor(status: number, error: string, message?: string, headers?: Record<string, string>) {
    super(message ?? error)
    this.status = status
    this.error = error
    this.headers = headers
  }

  toJSON(): { error: string; message: string } {
    return { error: this.error, message: this.message }
  }
}

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  auth: 401,
  forbidden: 403,
  notFound: 404,
  timeout: 408,
  tooLarge: 413,
  rateLimited: 429,
  internal: 500,
  notImplemented: 501,
  upstream: 502,
  upstreamTimeout: 504,
  unavailable: 503,
}

/** Any thrown value → the XRPC error to send: domain errors by kind, body-parser's by type, anything else 500. */
export function toXrpcError(err: unknown): XRPCError {
  if (err instanceof XRPCError) return err
  // A proxied service's own error answer: its status, name and message, as the reference passes them on.
  if (err instanceof UpstreamResponseError) return new XRPCError(err.status, err.error, err.message, err.headers)
  // An OAuth token without the scope a method needs (@atproto/oauth-scopes): 403, named and worded as the reference
  // sends it (xrpc-server maps it as an http-error), e.g. `Missing required scope "identity:handle"`.
  if (isScopeMissing(err)) return new XRPCError(403, 'ScopeMissingError', err.message)
  if (err instanceof PdsError) {
    const headers =
      err instanceof RateLimitExceededError
        ? refusalHeaders(err.status)
        : err.kind === 'auth'
          ? { 'WWW-Authenticate': 'Bearer' }
          : undefined
    return new XRPCError(STATUS[err.kind], err.error, err.message, headers)
  }
  const e = err as { type?: string; status?: number; message?: string }
  // body-parser's errors carry a `type`; they are the client's fault, not ours.
  if (e?.type === 'entity.too.large') return toXrpcError(new PayloadTooLargeError())
  if (e?.type === 'entity.parse.failed') return toXrpcError(new InvalidRequestError('Request body is not valid JSON'))
  if (e?.type && e.status && e.status >= 400 && e.status < 500) {
    return toXrpcError(new InvalidRequestError(e.message ?? 'Invalid request body'))
  }
  // A body that does not decode with its Content-Encoding (zlib's Z_DATA_ERROR, Z_BUF_ERROR…): the client's bytes.
  if (/^Z_/.test(String((err as NodeJS.ErrnoException)?.code))) {
    return toXrpcError(new InvalidRequestError('Request body does not decode with its Content-Encoding'))
  }
  // The client hung up mid-body (node's IncomingMessage 'aborted', ECONNRESET): its doing, not a bug of ours.
  if ((err as NodeJS.ErrnoException)?.code === 'ECONNRESET' && e.message === 'aborted') {
    return toXrpcError(new InvalidRequestError('Request aborted by the client'))
  }
  // Express's router could not percent-decode a path parameter (/xrpc/%E0): a bad URL, not a bug.
  if (err instanceof URIError && e.status === 400) return toXrpcError(new InvalidRequestError(err.message))
  return toXrpcError(new InternalServerError())
}

/**
 * Recognised by its name and scope, not instanceof: the package is loaded with the first OAuth token, not at startup
 * (150 ms), and this module must not load it to answer other errors.
 */
function isScopeMissing(err: unknown): err is ScopeMissingError {
  return (
    err instanceof Error && err.name === 'ScopeMissingError' && typeof (err as { scope?: unknown }).scope === 'string'
  )
}
