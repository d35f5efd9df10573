// Graceful HTTP shutdown. Node's server.close() stops listening but keeps serving new requests on connections that
// are already open, so one busy keep-alive client could hold a shutdown up indefinitely. Once draining, every answer
// not yet started says `Connection: close` and its connection ends after it; requests in flight are left to finish.
import type { ServerResponse } from 'node:http'
import type { NextFunction, Request, Response } from 'express'

export class HttpDrain {
  private draining = false
  private readonly open = new Set<ServerResponse>()

  /** First in the app: tracks responses in progress, or marks them last on their connection once draining. */
  readonly middleware = (_req: Request, res: Response, next: NextFunction): void => {
    if (this.draining) res.shouldKeepAlive = false
    this.open.add(res)
    res.once('close', () => this.open.delete(res))
    next()
  }

  /** Start draining: each response in progress whose headers are not out yet closes its connection after it. */
  start(): void {
    this.draining = true
    for (const res of this.open) if (!res.headersSent) res.shouldKeepAlive = false
  }

  /** Responses not yet finished or abandoned. */
  get inFlight(): number {
    return this.open.size
  }
}
