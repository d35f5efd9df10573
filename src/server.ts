// The HTTP server: XRPC under /xrpc (and the firehose upgrade), handle verification under /.well-known and
// /tls-check, the OAuth authorization server (/oauth/*, its /.well-known documents, sign-in and account pages), the
// status page at /, /metrics when enabled, and the dev PLC directory under /plc.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import cors from 'cors'
import express from 'express'
import { localHandleDid } from './account/handle-lookup.ts'
import { isServiceHandle } from './identity/handles.ts'
import { routes } from './api/routes.ts'
import type { Config } from './config/index.ts'
import { createContext, type AppContext, type ContextOptions } from './context.ts'
import { openDatabase, type Db } from './db/index.ts'
import type { Logger } from './logger.ts'
import { startMaintenance } from './maintenance.ts'
import type { Metrics } from './metrics/index.ts'
import { HttpDrain } from './util/http-drain.ts'
import { trustProxyFn } from './util/net.ts'
import { describeListen, isLoopbackAddress } from './util/listen.ts'
import { watchFirehose } from './relay/firehose-watch.ts'
import { assignRequestId } from './request-log.ts'
import { bannerText, renderStatusPage, STATUS_DETAILS_PATH, wantsHtml } from './status/status-page.ts'
import { startupWarnings } from './status/startup-warnings.ts'
import { NotEnoughResourcesError, PdsError } from './errors.ts'
import { createXrpcRouter, xrpcErrorHandler } from './xrpc/router.ts'

/** How long a repo download may go on after shutdown begins (ms). */
const EXPORT_SHUTDOWN_GRACE_MS = 3000
/**
 * How long requests in flight (an upload, a proxied call) may go on after shutdown begins before their connections
 * are cut (ms). Writes take milliseconds; this bounds the rest well inside `docker stop`'s 10 s.
 */
const REQUEST_SHUTDOWN_GRACE_MS = 5000

export type PdsServer = {
  ctx: AppContext
  /** The database behind the services, for the server's own wiring and for tests that look at what was stored. */
  db: Db
  server: http.Server
  url: string
  close: () => Promise<void>
}

/** `drain`: the graceful shutdown's hold on connections; `metrics`: when PDS_METRICS_ENABLED. */
export function createApp(ctx: AppContext, db: Db, opts: { drain?: HttpDrain; metrics?: Metrics } = {}): express.Express {
  const startedAt = new Date().toISOString()
  const warnings = startupWarnings(ctx.cfg)
  const app = express()
  app.disable('x-powered-by')
  // Answers nothing itself: it only marks, once shutdown begins, each answer as the last on its connection.
  if (opts.drain) app.use(opts.drain.middleware)
  // Before anything that answers, so that every response (429s, 404s, CORS preflights included) carries its X-Request-Id.
  app.use(assignRequestId)
  if (opts.metrics) {
    // Before the rate limits, so that what they refuse is counted too.
    app.use('/xrpc', opts.metrics.observeXrpc)
    app.get('/metrics', opts.metrics.handler)
  }
  // Behind nginx, req.ip (and the rate limits) see the real client only for proxies PDS_TRUST_PROXY trusts.
  app.set('trust proxy', trustProxyFn(ctx.cfg.trustProxy))
  // OAuth before CORS and the rate limiter, as in the reference: the provider answers its own preflights with its own
  // CORS rules, reads its own bodies, limits sign-in attempts itself, and passes every other request on.
  app.use(ctx.oauth.routes)
  app.use(cors({ maxAge: 86400 }))
  app.use(ctx.rateLimiter.syncMiddleware)

  // Browsers get the status page; everything else the reference's plain-text banner. Both are public: figures only.
  const statusPage = (details: boolean) => {
    const firehose = ctx.firehose.stats()
    return renderStatusPage({
      version: ctx.version,
      publicUrl: ctx.cfg.publicUrl,
      hostname: ctx.cfg.hostname,
      accounts: ctx.accounts.store.count(),
      oauthSessions: ctx.oauth.tokens.countActive(),
      latestSeq: firehose.latestSeq,
      firehose,
      federationEnabled: ctx.cfg.federation.enabled,
      relays: ctx.relay.status(),
      startedAt,
      now: new Date().toISOString(),
      warnings,
      details,
    })
  }
  app.get('/', (req, res) => {
    if (!wantsHtml(req.headers.accept)) {
      res.type('text/plain').send(bannerText(ctx.version))
      return
    }
    res.type('html').send(statusPage(false))
  })
  // The operator's view, with each firehose subscriber's address: HTTP Basic admin:<PDS_ADMIN_PASSWORD>, which a
  // browser asks for when told so by the 401.
  app.get(STATUS_DETAILS_PATH, (req, res, next) => {
    ctx.auth.verify('admin', req).then(
      () => res.type('html').set('Cache-Control', 'no-store').send(statusPage(true)),
      (err) => {
        // Too many wrong passwords from this client: the 429 (with its headers) from the error handler.
        if (!(err instanceof PdsError) || err.kind === 'rateLimited') return next(err)
        res.status(401).set('WWW-Authenticate', 'Basic realm="Aurora Locus operator", charset="UTF-8"')
        res.type('text/plain').send('Admin password required\n')
      },
    )
  })
  app.get('/robots.txt', (_req, res) => {
    res.type('text/plain').send('User-agent: *\nAllow: /\n')
  })

  // Handle verification for subdomain handles: the Host header names the handle (of an active account only).
  app.get('/.well-known/atproto-did', (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase()
    const did = host ? localHandleDid(ctx.accounts.store, ctx.cfg.serviceHandleDomains, host) : undefined
    if (!did) {
      res.status(404).type('text/plain').send('User not found')
      return
    }
    res.type('text/plain').send(did)
  })

  // Caddy's on-demand TLS asks before it gets a certificate for a name: only this server's hostname and the handles
  // of its active accounts, or anyone pointing a name at us could make it spend the CA's rate limits. The answers
  // are the reference distribution's (bluesky-social/pds service/index.js).
  app.get('/tls-check', (req, res) => {
    const domain = typeof req.query.domain === 'string' ? req.query.domain.trim().toLowerCase() : ''
    if (!domain) {
      res.status(400).json({ error: 'InvalidRequest', message: 'bad or missing domain query param' })
    } else if (domain === ctx.cfg.hostname) {
      res.json({ success: true })
    } else if (!isServiceHandle(domain, ctx.cfg.serviceHandleDomains)) {
      res.status(400).json({ error: 'InvalidRequest', message: 'handles are not provided on this domain' })
    } else if (!localHandleDid(ctx.accounts.store, ctx.cfg.serviceHandleDomains, domain)) {
      res.status(404).json({ error: 'NotFound', message: 'handle not found for this domain' })
    } else {
      res.json({ success: true })
    }
  })

  if (ctx.cfg.embeddedPlc) {
    // Loaded on first use: @did-plc/lib is a heavy import, and a dev server may never see a PLC request.
    const plc = lazyHandler(() =>
      import('./plc-directory/index.ts').then((m) => m.createPlcDirectoryRouter(db, ctx.log)),
    )
    app.use('/plc', plc)
    // @atproto/identity's DidResolver builds `new URL('/' + did, plcUrl)`, which drops the `/plc` path of its
    // plcUrl; so the directory's reads also answer at the root, where no other route can start with "did:plc:".
    app.get(/^\/did(?::|%3A)plc(?::|%3A)/i, plc)
  }
  // subscribeRepos is a WebSocket; a plain GET (no Upgrade header) is told so, as the spec asks.
  app.get('/xrpc/com.atproto.sync.subscribeRepos', (_req, res) => {
    res.status(426).set('Upgrade', 'websocket').json({
      error: 'InvalidRequest',
      message: 'com.atproto.sync.subscribeRepos is a WebSocket subscription: connect with Upgrade: websocket',
    })
  })
  app.use('/xrpc', createXrpcRouter(ctx, routes))
  app.use((_req, res) => {
    res.status(404).json({ error: 'NotFound', message: 'Not Found' })
  })
  app.use(xrpcErrorHandler(ctx))
  return app
}

function lazyHandler(load: () => Promise<express.RequestHandler>): express.RequestHandler {
  let handler: Promise<express.RequestHandler> | undefined
  return (req, res, next) => {
    handler ??= load()
    handler.then((h) => h(req, res, next), next)
  }
}

export async function startServer(cfg: Config, log: Logger, opts: ContextOptions = {}): Promise<PdsServer> {
  const db = openDatabase(cfg.dbPath)
  const ctx = await createContext(cfg, log, db, opts)
  const metrics = cfg.metrics.enabled
    ? await import('./metrics/index.ts').then((m) => m.createMetrics(ctx, routes.map((r) => r.nsid)))
    : undefined
  const drain = new HttpDrain()
  const app = createApp(ctx, db, { drain, metrics })
  const server = http.createServer(app)
  server.on('upgrade', ctx.rateLimiter.guardUpgrade((req, socket, head) => ctx.firehose.handleUpgrade(req, socket, head)))
  // Slow or idle clients must not pin sockets forever; firehose sockets upgrade out of these limits.
  server.keepAliveTimeout = 65_000
  server.requestTimeout = 5 * 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(cfg.port, cfg.bindHost, () => resolve())
  })
  const address = server.address() as AddressInfo
  const { port } = address
  // Dev settings beyond this machine turn the server into an open proxy (plain-http resolution, no SSRF guard) and
  // an open PLC directory; allowed, because someone asked for it with PDS_BIND_HOST, but said loudly.
  if ((cfg.devMode || cfg.hostname === 'localhost') && !isLoopbackAddress(address.address)) {
    log.warn(
      { listen: describeListen(address) },
      'dev mode reachable from other machines (PDS_BIND_HOST): it resolves identities over plain http with no SSRF ' +
        'guard and may serve an open PLC directory; set a real PDS_HOSTNAME for a public server',
    )
  }
  for (const w of startupWarnings(cfg)) log.warn({ warning: w.id }, w.message)
  const stopMaintenance = startMaintenance(ctx, db)
  // Tell the relays we are here (a no-op unless PDS_FEDERATION_ENABLED), and again if every subscriber goes away.
  ctx.relay.start()
  const unwatchFirehose = watchFirehose(ctx.firehose, ctx.relay)
  const shutdown = async () => {
    // Stop accepting first: the listening socket closes (new connections are refused), idle keep-alive connections
    // close now, and each connection with a request in flight closes once that request is answered.
    drain.start()
    const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    server.keepAliveTimeout = 1
    stopMaintenance()
    unwatchFirehose()
    metrics?.close()
    await ctx.relay.stop()
    // Every subscriber gets a close frame (1001 Going Away); the HTTP server does not close while they are open.
    await ctx.firehose.close()
    // A repo download in progress gets a few seconds to finish; one whose client stopped reading would otherwise hold
    // the shutdown until its idle deadline (a minute by default), past what `docker stop` waits.
    const cutOff = setTimeout(
      () => ctx.repo.exports.abortAll(new NotEnoughResourcesError('The server is shutting down')),
      EXPORT_SHUTDOWN_GRACE_MS,
    )
    const deadline = setTimeout(() => {
      log.warn({ inFlight: drain.inFlight }, 'shutdown: cutting the connections of requests still in flight')
      server.closeAllConnections()
    }, REQUEST_SHUTDOWN_GRACE_MS)
    await httpClosed
    clearTimeout(cutOff)
    clearTimeout(deadline)
    // A write whose connection was cut still runs to its commit (or failure) before the database closes.
    await ctx.repo.idle()
    // Password reset mails still being prepared after their request was answered need the database.
    await ctx.selfService.idle()
    // Proxied requests are done with the HTTP server; their pooled upstream sockets go too.
    ctx.proxy.close()
    ctx.blobStore.close()
    db.close()
  }
  let closing: Promise<void> | undefined
  const close = () => (closing ??= shutdown())
  return { ctx, db, server, url: `http://localhost:${port}`, close }
}
