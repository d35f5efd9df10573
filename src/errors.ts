// Domain errors: what went wrong, named as the XRPC error a client sees (InvalidRequest, InvalidSwap, RepoNotFound,
// ExpiredToken, …), with its kind. No HTTP here: src/xrpc/errors.ts turns a kind into a status and headers.
export type ErrorKind =
  | 'invalid' // the request cannot be done as asked (most "not found"s too: the reference answers them with 400)
  | 'auth' // credentials missing, or not good enough for this
  | 'forbidden' // credentials fine, but what they name is gone (an account deleted mid-request)
  | 'notFound' // served content that is not there (blobs)
  | 'tooLarge'
  | 'rateLimited'
  | 'unavailable' // at a capacity limit right now: try again later
  | 'timeout' // the client took too long (a stalled reader is cut off)
  | 'notImplemented'
  | 'upstream' // a service we depend on failed (PLC directory, DID resolution, a proxied service)
  | 'upstreamTimeout' // a service we forwarded to did not answer in time
  | 'internal'

export class PdsError extends Error {
  readonly kind: ErrorKind
  /** The XRPC error name. */
  readonly error: string

  constructor(kind: ErrorKind, error: string, message?: string) {
    super(message ?? error)
    this.kind = kind
    this.error = error
  }
}

export class InvalidRequestError extends PdsError {
  constructor(message = 'Invalid request', error = 'InvalidRequest') {
    super('invalid', error, message)
  }
}

export class AuthRequiredError extends PdsError {
  constructor(message = 'Authentication Required', error = 'AuthenticationRequired') {
    super('auth', error, message)
  }
}

/** The reference's 403s, e.g. AccountNotFound for an account deleted while its request was running. */
export class ForbiddenError extends PdsError {
  constructor(message = 'Forbidden', error = 'Forbidden') {
    super('forbidden', error, message)
  }
}

export class PayloadTooLargeError extends PdsError {
  constructor(message = 'Request entity too large') {
    super('tooLarge', 'PayloadTooLarge', message)
  }
}

export class NotEnoughResourcesError extends PdsError {
  constructor(message = 'Not Enough Resources') {
    super('unavailable', 'NotEnoughResources', message)
  }
}

export class IdleTimeoutError extends PdsError {
  constructor(message = 'The client stopped reading') {
    super('timeout', 'IdleTimeout', message)
  }
}

export class MethodNotImplementedError extends PdsError {
  constructor(message = 'Method Not Implemented') {
    super('notImplemented', 'MethodNotImplemented', message)
  }
}

export class UpstreamFailureError extends PdsError {
  constructor(message = 'Upstream Failure') {
    super('upstream', 'UpstreamFailure', message)
  }
}

export class UpstreamTimeoutError extends PdsError {
  constructor(message = 'Upstream Timeout') {
    super('upstreamTimeout', 'UpstreamTimeout', message)
  }
}

export class InternalServerError extends PdsError {
  constructor() {
    super('internal', 'InternalServerError', 'Internal Server Error')
  }
}
