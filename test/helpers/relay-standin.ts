// A local relay stand-in: records every com.atproto.sync.requestCrawl, answers it as told (ok, 500, hang), can stop
// listening (connection refused) and listen again on the same port, and answers the relay read endpoints
// (getHostStatus, getRepoStatus, ...) through a handler the test sets.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Socket } from 'node:net'

export type Crawl = { hostname: unknown; body: unknown; userAgent?: string; receivedAt: number }
export type CrawlMode = 'ok' | 'error500' | 'hang'
export type QueryAnswer = { status: number; body: unknown } | undefined

export class RelayStandIn {
  readonly crawls: Crawl[] = []
  /** Every request that reached the stand-in, in order, as "METHOD nsid". */
  readonly requests: string[] = []
  mode: CrawlMode = 'ok'
  /** Answer for GET /xrpc/<nsid>; undefined → 404 (not implemented here). */
  onQuery: (nsid: string, params: URLSearchParams) => QueryAnswer | Promise<QueryAnswer> = () => undefined
  private server: http.Server
  private readonly sockets = new Set<Socket>()
  private readonly waiters = new Set<() => void>()
  private port = 0

  private constructor() {
    this.server = this.makeServer()
  }

  static async start(port = 0): Promise<RelayStandIn> {
    const relay = new RelayStandIn()
    await relay.listen(port)
    return relay
  }

  get url(): string {
    return `http://localhost:${this.port}`
  }

  /** Resolves once `n` requestCrawl calls have arrived (answered or not), or rejects after `ms`. */
  waitForCrawls(n: number, ms = 10_000): Promise<void> {
    return this.waitFor(() => this.crawls.length >= n, ms, `${n} requestCrawl call(s), got ${this.crawls.length}`)
  }

  /** Stop accepting connections (clients get ECONNREFUSED) and drop open ones. */
  async stopListening(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
  }

  /** Listen again on the same port. */
  async listenAgain(): Promise<void> {
    this.server = this.makeServer()
    await this.listen(this.port)
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.stopListening()
  }

  private waitFor(done: () => boolean, ms: number, what: string): Promise<void> {
    if (done()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`relay stand-in: timed out after ${ms} ms waiting for ${what}`))
      }, ms)
      this.waiters.add(check)
    })
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port
        resolve()
      })
    })
  }

  private makeServer(): http.Server {
    const server = http.createServer((req, res) => {
      void this.handle(req, res)
    })
    server.on('connection', (s) => {
      this.sockets.add(s)
      s.once('close', () => this.sockets.delete(s))
    })
    return server
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://relay')
    const nsid = url.pathname.replace(/^\/xrpc\//, '')
    this.requests.push(`${req.method} ${nsid}`)
    if (req.method === 'POST' && nsid === 'com.atproto.sync.requestCrawl') {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        body = undefined
      }
      this.crawls.push({
        hostname: (body as { hostname?: unknown } | undefined)?.hostname,
        body,
        userAgent: req.headers['user-agent'],
        receivedAt: Date.now(),
      })
      const mode = this.mode
      for (const w of [...this.waiters]) w()
      if (mode === 'hang') return // never answered; dropped by close()/stopListening()
      if (mode === 'error500') return json(res, 500, { error: 'InternalServerError', message: 'relay stand-in is failing' })
      return json(res, 200, {})
    }
    if (req.method === 'GET') {
      const answer = await this.onQuery(nsid, url.searchParams)
      if (answer) return json(res, answer.status, answer.body)
    }
    json(res, 404, { error: 'MethodNotImplemented', message: `${nsid} is not implemented by this relay` })
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  // No keep-alive: every request opens a connection, so "stopped listening" always means ECONNREFUSED.
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify(body))
}
