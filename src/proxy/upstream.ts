// One HTTP request to an upstream service, with node:http(s): bodies stream both ways (nothing is buffered here),
// sockets to endpoints from DID documents go through the SSRF guard's lookup, and every way of not answering ends
// in an XRPC error within the timeout. Keep-alive sockets are pooled apart for guarded and trusted endpoints, so a
// socket opened for the operator's configured service is never reused for a DID document's endpoint.
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import { Readable, Transform } from 'node:stream'
import { InvalidRequestError, PayloadTooLargeError, PdsError, UpstreamFailureError, UpstreamTimeoutError } from '../errors.ts'
import { guardedLookup } from './ssrf.ts'

export type UpstreamCall = {
  /** Origin, path and query of the upstream request. */
  url: URL
  method: string
  headers: Record<string, string>
  /** The body: the client's request stream (capped at `maxBodyBytes`) or bytes. None for GET and HEAD. */
  body?: Readable | Buffer
  /** Largest streamed body; more → 413 PayloadTooLarge and the upstream request is abandoned. */
  maxBodyBytes?: number
  /** The endpoint came from a DID document: connect only to public addresses (the SSRF guard). */
  guarded: boolean
  /**
   * In ms: the longest the socket may sit idle (connecting, sending, waiting, receiving), and the longest the
   * response headers may take once the request is sent. Either → 504 UpstreamTimeout.
   */
  timeoutMs: number
  /** Aborts the call: the client went away. */
  signal?: AbortSignal
}

export class UpstreamTransport {
  private readonly agents = new Map<string, http.Agent>()

  /**
   * Sends the call and resolves with the upstream response once its headers arrive (any status; the body unread).
   * Rejects with PdsErrors: InvalidRequest (the guard refused the address), PayloadTooLarge, UpstreamTimeout,
   * UpstreamFailure (refused, reset, not HTTP); or with the abort reason when `signal` fires.
   */
  send(call: UpstreamCall): Promise<IncomingMessage> {
    const { url, timeoutMs } = call
    return new Promise((resolve, reject) => {
      let settled = false
      let deadline: NodeJS.Timeout | undefined
      const fail = (err: unknown) => {
        clearTimeout(deadline)
        if (settled) return
        settled = true
        reject(toUpstreamError(err, timeoutMs))
      }
      // Settle here, not through req's 'error': a request node has already destroyed (a 101 answer without an
      // upgrade listener, say) emits nothing more, and the call would hang past every deadline.
      const timedOut = () => {
        const err = new UpstreamTimeoutError(noAnswer(timeoutMs))
        req.destroy(err)
        fail(err)
      }
      const startDeadline = () => {
        deadline ??= setTimeout(timedOut, timeoutMs)
      }
      const mod = url.protocol === 'https:' ? https : http
      const req = mod.request(url, {
        method: call.method,
        headers: call.headers,
        agent: this.agent(url.protocol, call.guarded),
        timeout: timeoutMs,
        signal: call.signal,
      })
      req.on('timeout', timedOut)
      req.on('error', fail)
      // XRPC never switches protocols: a 101 is a broken or hostile service.
      req.on('upgrade', (_res, socket) => {
        socket.destroy()
        fail(new UpstreamFailureError('Upstream service answered 101 Switching Protocols'))
      })
      // Whatever else ends the request before an answer (fail does nothing once the call has settled).
      req.on('close', () => fail(new UpstreamFailureError('Upstream connection closed without an answer')))
      req.on('response', (res) => {
        clearTimeout(deadline)
        if (settled) return res.destroy()
        settled = true
        resolve(res)
      })
      // The answer is due once the request is out; a body still arriving is the client's time, not the upstream's.
      req.on('finish', startDeadline)
      const { body } = call
      if (body instanceof Readable) {
        // Not pipeline(): that would destroy the client's request, and with it the socket our 413 or 502 goes out
        // on. Unpiped, the rest of an abandoned body is read and dropped by node once the answer is sent.
        const cap = byteCap(call.maxBodyBytes ?? Infinity)
        const abandon = (err: unknown) => {
          body.unpipe(cap)
          cap.unpipe(req)
          req.destroy(err as Error)
          fail(err)
        }
        cap.on('error', abandon)
        body.on('error', abandon) // the client went away mid-body
        req.on('error', () => body.unpipe(cap))
        body.pipe(cap).pipe(req)
      } else {
        req.end(body)
      }
    })
  }

  /** Closes pooled keep-alive sockets (server shutdown). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
  }

  private agent(protocol: string, guarded: boolean): http.Agent {
    const key = `${protocol}${guarded ? 'guarded' : 'trusted'}`
    let agent = this.agents.get(key)
    if (!agent) {
      const opts = { keepAlive: true, ...(guarded ? { lookup: guardedLookup } : {}) }
      agent = protocol === 'https:' ? new https.Agent(opts) : new http.Agent(opts)
      this.agents.set(key, agent)
    }
    return agent
  }
}

/** Passes bytes through until more than `max` have passed, then fails with PayloadTooLarge. */
function byteCap(max: number): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length
      if (seen > max) return done(new PayloadTooLargeError(`Request body larger than ${max} bytes`))
      done(null, chunk)
    },
  })
}

function noAnswer(timeoutMs: number): string {
  return `Upstream service did not answer within ${timeoutMs / 1000} s`
}

function toUpstreamError(err: unknown, timeoutMs: number): unknown {
  if (err instanceof PdsError) return err
  const e = err as { name?: string; code?: string; message?: string }
  if (e?.name === 'AbortError') return err // the client is gone; nobody reads the answer
  // Not which address: that would let any user look up this network's internal names through us.
  if (e?.code === 'ERR_NON_PUBLIC_ADDRESS') return new InvalidRequestError('service endpoint refused: not a public address')
  if (e?.code === 'ETIMEDOUT') return new UpstreamTimeoutError(noAnswer(timeoutMs))
  return new UpstreamFailureError(`Upstream service unreachable (${e?.code ?? e?.message ?? 'unknown error'})`)
}
