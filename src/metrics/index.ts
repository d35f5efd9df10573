// GET /metrics: the server's figures in the Prometheus text format (prom-client), for an operator's dashboards and
// alerts. Off unless PDS_METRICS_ENABLED. The services are not handed a registry: the counters listen to the events
// they already emit (the sequencer's commits reach the firehose; the firehose's connects and disconnects; the relay
// notifier's attempts; the repo service's committed writes), and the gauges read the figures the status page reads,
// when a scrape asks. prom-client is loaded only when metrics are on (it costs startup time).
import { statSync } from 'node:fs'
import type { RequestHandler } from 'express'
import type { AppContext } from '../context.ts'
import { bearerMatches } from './bearer.ts'
import { MethodLabels } from './method-label.ts'

export type Metrics = {
  /** Middleware mounted at /xrpc: one observation per request, when its response ends. */
  observeXrpc: RequestHandler
  /** GET /metrics. */
  handler: RequestHandler
  /** Stop listening to the services (shutdown). */
  close: () => void
}

/** Seconds; from a cached read to a slow proxied call. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Seconds from a write's arrival at the repo service to its commit (lock wait, MST, signing, transaction). */
const COMMIT_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/**
 * Build the registry and wire it to the services. `servedMethods`: the NSIDs the route table serves (each gets its
 * own `method` label; see method-label.ts for the rest).
 */
export async function createMetrics(ctx: AppContext, servedMethods: Iterable<string>): Promise<Metrics> {
  const prom = await import('prom-client')
  const register = new prom.Registry()
  // process_* and nodejs_* (CPU, memory, handles, GC, event-loop lag); prom-client's names, as dashboards expect.
  prom.collectDefaultMetrics({ register })
  const registers = [register]
  const gauge = (name: string, help: string, read: () => number) =>
    new prom.Gauge({ name, help, registers, collect() { this.set(read()) } })

  // XRPC requests.
  const labels = new MethodLabels([...servedMethods, '_health', 'com.atproto.sync.subscribeRepos'])
  const requests = new prom.Histogram({
    name: 'aurora_xrpc_request_duration_seconds',
    help: 'XRPC requests by method (NSID; methods not served here share "other" unless another service answered them) and HTTP status ("aborted": the client left before an answer), from arrival to the end of the response',
    labelNames: ['method', 'status'],
    buckets: REQUEST_BUCKETS,
    registers,
  })
  const observeXrpc: RequestHandler = (req, res, next) => {
    const started = performance.now()
    // Read now: routers further on rewrite req.url while they handle the request.
    const nsid = req.path.slice(1)
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 0
      requests.observe(
        { method: labels.label(nsid, status), status: status === 0 ? 'aborted' : String(status) },
        (performance.now() - started) / 1000,
      )
    })
    next()
  }

  // Repo writes.
  const writes = new prom.Counter({
    name: 'aurora_repo_writes_total',
    help: 'Record writes committed, by action (create, update, delete)',
    labelNames: ['action'],
    registers,
  })
  const commits = new prom.Histogram({
    name: 'aurora_repo_commit_duration_seconds',
    help: 'Record-write commits: time from the repo service taking the writes to their commit',
    buckets: COMMIT_BUCKETS,
    registers,
  })
  const onCommitted = (c: { creates: number; updates: number; deletes: number; durationMs: number }) => {
    if (c.creates) writes.inc({ action: 'create' }, c.creates)
    if (c.updates) writes.inc({ action: 'update' }, c.updates)
    if (c.deletes) writes.inc({ action: 'delete' }, c.deletes)
    commits.observe(c.durationMs / 1000)
  }
  ctx.repo.on('committed', onCommitted)

  // The event log and the firehose.
  gauge('aurora_sequencer_latest_seq', 'The highest seq assigned to an event', () => ctx.sequencer.lastAssignedSeq())
  gauge('aurora_firehose_subscribers', 'subscribeRepos subscribers streaming', () => ctx.firehose.stats().subscriberCount)
  gauge('aurora_firehose_open_sockets', 'subscribeRepos WebSockets open, closing ones included', () => ctx.firehose.stats().openSockets)
  gauge('aurora_firehose_max_lag_events', 'Events the furthest-behind subscriber has yet to receive', () =>
    Math.max(0, ...ctx.firehose.stats().subscribers.map((s) => s.lag)),
  )
  gauge('aurora_firehose_backlog_frames', 'Frames read for subscribers and not yet written out, all subscribers', () =>
    ctx.firehose.stats().subscribers.reduce((n, s) => n + s.queued + s.inFlight, 0),
  )
  gauge('aurora_firehose_buffered_bytes', 'Bytes handed to subscriber sockets and not yet sent, all subscribers', () =>
    ctx.firehose.stats().subscribers.reduce((n, s) => n + s.bufferedBytes, 0),
  )
  const connections = new prom.Counter({ name: 'aurora_firehose_connections_total', help: 'subscribeRepos connections accepted', registers })
  const disconnects = new prom.Counter({
    name: 'aurora_firehose_disconnects_total',
    help: 'subscribeRepos subscribers gone, by reason; ConsumerTooSlow and KeepaliveTimeout are the ones this server dropped',
    labelNames: ['reason'],
    registers,
  })
  let refusedSeen = 0
  new prom.Counter({
    name: 'aurora_firehose_refused_total',
    help: 'subscribeRepos upgrades refused by the connection caps',
    registers,
    collect() {
      const refused = ctx.firehose.stats().totals.refused
      this.inc(Math.max(0, refused - refusedSeen))
      refusedSeen = refused
    },
  })
  const onConnect = () => connections.inc()
  const onDisconnect = (d: { reason: string }) => disconnects.inc({ reason: d.reason })
  ctx.firehose.on('connect', onConnect)
  ctx.firehose.on('disconnect', onDisconnect)

  // Relays (a configured, bounded list).
  const crawls = new prom.Counter({
    name: 'aurora_relay_request_crawl_total',
    help: 'requestCrawl requests to each configured relay, by result (ok, failed)',
    labelNames: ['relay', 'result'],
    registers,
  })
  new prom.Gauge({
    name: 'aurora_relay_consecutive_failures',
    help: 'requestCrawl failures in a row, per relay (0 after a success)',
    labelNames: ['relay'],
    registers,
    collect() {
      for (const r of ctx.relay.status()) this.set({ relay: r.url }, r.consecutiveFailures)
    },
  })
  const onAttempt = (a: { relay: string; ok: boolean }) => crawls.inc({ relay: a.relay, result: a.ok ? 'ok' : 'failed' })
  ctx.relay.on('attempt', onAttempt)

  // Storage.
  gauge('aurora_accounts', 'Accounts on this server, any status', () => ctx.accounts.store.count())
  gauge('aurora_blob_bytes', 'Bytes of blobs stored, all accounts, uploads not yet used by a record included', () =>
    ctx.blobs.totalBytes(),
  )
  new prom.Gauge({
    name: 'aurora_database_file_bytes',
    help: 'Size of the SQLite database file (file="db") and of its write-ahead log (file="wal")',
    labelNames: ['file'],
    registers,
    collect() {
      this.set({ file: 'db' }, fileSize(ctx.cfg.dbPath))
      this.set({ file: 'wal' }, fileSize(`${ctx.cfg.dbPath}-wal`))
    },
  })

  const token = ctx.cfg.metrics.token
  const handler: RequestHandler = (req, res, next) => {
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text/plain').send('Bearer token required\n')
      return
    }
    register.metrics().then((text) => {
      res.set('Cache-Control', 'no-store').type(register.contentType).send(text)
    }, next)
  }

  return {
    observeXrpc,
    handler,
    close: () => {
      ctx.repo.off('committed', onCommitted)
      ctx.firehose.off('connect', onConnect)
      ctx.firehose.off('disconnect', onDisconnect)
      ctx.relay.off('attempt', onAttempt)
    },
  }
}

/** Bytes, or 0 for a file that is not there (no WAL between checkpoints on some systems). */
function fileSize(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}
