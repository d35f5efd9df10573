// XRPC errors: always `{error, message}` JSON with the reference PDS's names and statuses.
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

export class InvalidRequestError extends XRPCError {
  constructor(message = 'Invalid request', error = 'InvalidRequest') {
    super(400, error, message)
  }
}

export class AuthRequiredError extends XRPCError {
  constructor(message = 'Authentication Required', error = 'AuthenticationRequired') {
    super(401, error, message, { 'WWW-Authenticate': 'Bearer' })
  }
}

export class PayloadTooLargeError extends XRPCError {
  constructor(message = 'Request entity too large') {
    super(413, 'PayloadTooLarge', message)
  }
}

export class MethodNotImplementedError extends XRPCError {
  constructor(message = 'Method Not Implemented') {
    super(501, 'MethodNotImplemented', message)
  }
}

export class UpstreamFailureError extends XRPCError {
  constructor(message = 'Upstream Failure') {
    super(502, 'UpstreamFailure', message)
  }
}

export class InternalServerError extends XRPCError {
  constructor() {
    super(500, 'InternalServerError', 'Internal Server Error')
  }
}
