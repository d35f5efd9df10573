// Request ids, and the one log line of a request that failed. A client's mistake (4xx), a method we do not
// implement (501) or a capacity limit reached (503) is ordinary traffic: one `info` line without a stack. Another
// service failing (502, 504) is one `warn` line without a stack. Any other 5xx is our bug: `error` with the
// stack. Every response carries its id in X-Request-Id and every such line has it as `reqId`, so a user's report
// ("it failed, request id …") leads an operator to the line.
import { randomUUID } from 'node:crypto'
import type { NextFunction, Request, Response } from 'express'
import type { Logger } from './logger.ts'

export const REQUEST_ID_HEADER = 'X-Request-Id'

// A proxy's id (nginx's $request_id is 32 hex digits) is kept so its access log and ours match. Anything else — too
// long, or characters that could forge log lines — is replaced by our own.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Middleware: give the request an id (the incoming X-Request-Id if sane, else a random UUID) and echo it back. */
export function assignRequestId(req: Request, res: Response, next: NextFunction): void {
  const incoming = req.headers['x-request-id']
  const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID()
  res.locals.requestId = id
  res.setHeader(REQUEST_ID_HEADER, id)
  // A web client may read it too, to show in its error report.
  res.append('Access-Control-Expose-Headers', REQUEST_ID_HEADER)
  next()
}

/** The id assignRequestId gave this response; undefined only for a response that bypassed the app's middleware. */
export function requestIdOf(res: Response): string | undefined {
  return res.locals.requestId as string | undefined
}

/**
 * 501 says "not here", not "broken": the client asked for something this server does not offer. 503 says "not now":
 * a configured limit (e.g. concurrent repo exports) is reached. 502 and 504 say another service (a proxied AppView,
 * the PLC directory) failed: worth a warning, not our stack.
 */
export function isServerFault(status: number): boolean {
  return status >= 500 && status !== 501 && status !== 503 && !isUpstreamFault(status)
}

function isUpstreamFault(status: number): boolean {
  return status === 502 || status === 504
}

/**
 * Log a request that ended in an error response. `error` is the XRPC error name sent (e.g. `InvalidRequest`),
 * `message` the message sent; `err` is what was thrown, logged (with its stack) only for server faults.
 */
export function logFailedRequest(
  log: Logger,
  req: Request,
  res: Response,
  failure: { status: number; error: string; message: string },
  err: unknown,
): void {
  const fields = {
    reqId: requestIdOf(res),
    method: req.method,
    path: req.baseUrl + req.path, // no query string: params can be long, and are the client's to report
    status: failure.status,
    error: failure.error,
  }
  if (isServerFault(failure.status)) log.error({ ...fields, err }, 'request failed')
  else if (isUpstreamFault(failure.status)) log.warn({ ...fields, message: failure.message.slice(0, 300) }, 'upstream failed')
  else log.info({ ...fields, message: failure.message.slice(0, 300) }, 'request refused')
}
