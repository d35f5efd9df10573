// com.atproto.sync.subscribeRepos: takes WebSocket upgrades from the HTTP server (within the caps on open sockets,
// in all and per client IP), starts each subscriber at its cursor, wakes every subscriber when the sequencer reports
// committed events (no polling), prunes the log, and keeps the figures a status page reads (`stats()`).
import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Logger } from '../logger.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { parseCursor, resolveStart } from './cursor.ts'
import { EventLog, type EventLogLimits } from './event-log.ts'
import { refuseUpgrade } from './http-refusal.ts'
import { Keepalive, type KeepaliveTiming } from './keepalive.ts'
import { CLOSE_GOING_AWAY, consumerTooSlowError, invalidRequestError, SUBSCRIBE_REPOS_PATH } from './messages.ts'
import { Retention } from './retention.ts'
import { Subscriber, type EndReason, type SubscriberInfo, type SubscriberLimits } from './subscriber.ts'

export type FirehoseTuning = Omit<SubscriberLimits, 'maxBuffer'> & {
  keepalive: KeepaliveTiming
  cache: EventLogLimits
  /** On shutdown, how long peers have to answer our close frame. */
  shutdownGraceMs: number
}

export function defaultTuning(maxBuffer: number): FirehoseTuning {
  return {
    keepalive: { intervalMs: 30_000, timeoutMs: 60_000 },
    // Half the allowed lag at most, so a subscriber that just caught up is not already "too slow".
    windowEvents: Math.max(1, Math.min(500, Math.floor(maxBuffer / 2))),
    // Per subscriber, what a reader that stops reading pins in memory (plus one frame) until it is cut off.
    windowBytes: 1024 * 1024,
    stallMs: 60_000,
    pageSize: 100,
    retryMinMs: 50,
    retryMaxMs: 5_000,
    closeGraceMs: 10_000,
    shutdownGraceMs: 1_000,
    // Live subscribers are a few events behind at most; anyone further back reads the log like a replay.
    cache: { cacheEvents: 256, cacheBytes: 8 * 1024 * 1024, refreshPage: 256 },
  }
}

export type FirehoseStats = {
  enabled: boolean
  latestSeq: number
  maxBuffer: number
  retentionHours: number
  subscriberCount: number
  subscribers: SubscriberInfo[]
  /** WebSockets still open, including ones told to go that have not closed yet. */
  openSockets: number
  /** Caps on open sockets (0 = none). */
  maxConnections: number
  maxConnectionsPerIp: number
  cache: { events: number; bytes: number }
  /** `refused`: upgrades turned away by the socket caps. */
  totals: { connections: number; refused: number } & Partial<Record<EndReason, number>>
}

/** Caps on open sockets; 0 = no cap. */
export type ConnectionCaps = { max: number; perIp: number }

type DisconnectInfo = SubscriberInfo & { reason: EndReason }

type FirehoseEvents = {
  connect: [SubscriberInfo]
  /** The subscriber stopped streaming (its socket may still be closing). */
  disconnect: [DisconnectInfo]
  /** Its socket is closed and released. */
  closed: [id: number]
}

export class Firehose extends EventEmitter<FirehoseEvents> {
  readonly enabled: boolean
  readonly log: EventLog
  readonly retention: Retention
  readonly keepalive: Keepalive
  private readonly sequencer: Sequencer
  private readonly logger: Logger
  private readonly limits: SubscriberLimits
  private readonly tuning: FirehoseTuning
  private readonly wss: WebSocketServer
  private readonly subscribers = new Set<Subscriber>()
  private readonly totals: FirehoseStats['totals'] = { connections: 0, refused: 0 }
  private readonly caps: ConnectionCaps
  /** Open sockets per client IP (closing ones included: they still hold their buffers). */
  private readonly openPerIp = new Map<string, number>()
  private nextId = 0
  private fanoutQueued = false
  private closing: Promise<void> | undefined

  /** The subscriber's address as the trusted-proxy rule sees it (behind nginx: the real client, not nginx). */
  private readonly clientIp: (req: IncomingMessage) => string

  constructor(deps: {
    clientIp?: (req: IncomingMessage) => string
    sequencer: Sequencer
    logger: Logger
    enabled: boolean
    maxBuffer: number
    retentionHours: number
    caps?: ConnectionCaps
    tuning?: Partial<FirehoseTuning>
  }) {
    super()
    this.setMaxListeners(0)
    this.sequencer = deps.sequencer
    this.clientIp = deps.clientIp ?? ((req) => req.socket.remoteAddress ?? 'unknown')
    this.logger = deps.logger
    this.enabled = deps.enabled
    this.tuning = { ...defaultTuning(deps.maxBuffer), ...deps.tuning }
    this.limits = { ...this.tuning, maxBuffer: deps.maxBuffer }
    this.caps = deps.caps ?? { max: 0, perIp: 0 }
    this.log = new EventLog(deps.sequencer, this.tuning.cache)
    // Clients send nothing but control frames; a big message is a misbehaving peer.
    // Pings are answered by the subscriber, with at most one pong queued (see Subscriber).
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024, autoPong: false })
    this.retention = new Retention({
      sequencer: deps.sequencer,
      logger: deps.logger,
      retentionHours: deps.retentionHours,
      onPruned: () => this.dropPrunedSubscribers(),
    })
    this.keepalive = new Keepalive(this.tuning.keepalive, () => this.subscribers, deps.logger)
    this.sequencer.on('events', this.onEvents)
    this.retention.start()
    this.keepalive.start()
  }

  /** The HTTP server's `upgrade` event. Only subscribeRepos upgrades; everything else gets an XRPC error. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== SUBSCRIBE_REPOS_PATH) {
      return refuseUpgrade(socket, 404, 'NotFound', 'Only com.atproto.sync.subscribeRepos accepts WebSocket upgrades')
    }
    if (req.method !== 'GET') {
      return refuseUpgrade(socket, 405, 'InvalidRequest', `Incorrect HTTP method (${req.method}) expected GET`)
    }
    if (!this.enabled) {
      return refuseUpgrade(socket, 501, 'MethodNotImplemented', 'The firehose is disabled on this server')
    }
    if (this.closing) {
      return refuseUpgrade(socket, 503, 'NotEnoughResources', 'The server is shutting down')
    }
    // Refused before upgrading, so a refused client costs no WebSocket and no buffers.
    const ip = this.clientIp(req)
    if (this.caps.max > 0 && this.wss.clients.size >= this.caps.max) {
      this.totals.refused += 1
      this.logger.info({ remoteAddress: ip, open: this.wss.clients.size }, 'firehose: connection cap reached')
      return refuseUpgrade(socket, 503, 'NotEnoughResources', 'Too many open firehose connections; try again later')
    }
    const fromIp = this.openPerIp.get(ip) ?? 0
    if (this.caps.perIp > 0 && fromIp >= this.caps.perIp) {
      this.totals.refused += 1
      this.logger.info({ remoteAddress: ip, open: fromIp }, 'firehose: per-IP connection cap reached')
      return refuseUpgrade(
        socket,
        429,
        'RateLimitExceeded',
        `Too many open firehose connections from your address (at most ${this.caps.perIp})`,
      )
    }
    const parsed = parseCursor(url)
    // ws calls back synchronously here (no verifyClient), so no other upgrade can pass the checks before the count.
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, ip, parsed))
  }

  stats(): FirehoseStats {
    return {
      enabled: this.enabled,
      latestSeq: this.log.head,
      maxBuffer: this.limits.maxBuffer,
      retentionHours: this.retention.retentionMs / 3_600_000,
      subscriberCount: this.subscribers.size,
      subscribers: [...this.subscribers].map((s) => s.info()),
      openSockets: this.wss.clients.size,
      maxConnections: this.caps.max,
      maxConnectionsPerIp: this.caps.perIp,
      cache: this.log.cacheStats(),
      totals: { ...this.totals },
    }
  }

  /** Stop timers, send every subscriber a close frame, and cut whoever has not gone after a short grace. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.sequencer.off('events', this.onEvents)
      this.keepalive.stop()
      const pruning = this.retention.stop()
      for (const sub of [...this.subscribers]) sub.end('ServerShutdown', { code: CLOSE_GOING_AWAY })
      const open = [...this.wss.clients]
      const grace = setTimeout(() => open.forEach((ws) => ws.terminate()), this.tuning.shutdownGraceMs)
      await Promise.all(open.map((ws) => (ws.readyState === ws.CLOSED ? null : new Promise((r) => ws.once('close', r)))))
      clearTimeout(grace)
      await pruning
      await new Promise<void>((resolve) => this.wss.close(() => resolve()))
    })()
    return this.closing
  }

  private accept(ws: WebSocket, req: IncomingMessage, ip: string, parsed: ReturnType<typeof parseCursor>): void {
    const cursor = 'cursor' in parsed ? parsed.cursor : undefined
    this.openPerIp.set(ip, (this.openPerIp.get(ip) ?? 0) + 1)
    ws.once('close', () => {
      const left = (this.openPerIp.get(ip) ?? 1) - 1
      if (left > 0) this.openPerIp.set(ip, left)
      else this.openPerIp.delete(ip)
    })
    const sub = new Subscriber({
      id: ++this.nextId,
      ws,
      remoteAddress: ip,
      cursor,
      log: this.log,
      limits: this.limits,
      logger: this.logger,
      resolveStart: () => resolveStart(this.sequencer, cursor, this.retention.cutoff()),
      onEnd: (s, reason) => this.onEnd(s, reason),
    })
    ws.once('close', () => this.emit('closed', sub.id))
    this.subscribers.add(sub)
    this.totals.connections += 1
    this.logger.info({ id: sub.id, remoteAddress: sub.remoteAddress, cursor }, 'firehose subscriber connected')
    this.emit('connect', sub.info())
    if ('error' in parsed) sub.end('InvalidRequest', { frame: invalidRequestError(parsed.error) })
    else sub.pump()
  }

  private onEnd(sub: Subscriber, reason: EndReason): void {
    if (!this.subscribers.delete(sub)) return
    this.totals[reason] = (this.totals[reason] ?? 0) + 1
    const info = sub.info()
    this.logger.info(
      { id: sub.id, remoteAddress: sub.remoteAddress, reason, lastSentSeq: info.lastSentSeq, lag: info.lag },
      'firehose subscriber disconnected',
    )
    this.emit('disconnect', { ...info, reason })
  }

  // Called synchronously after each committing transaction. The fan-out runs as soon as the code that committed is
  // done (a tick: after the promise continuations that answer the write, so the ack is not held up), not in the next
  // check phase: until then the event loop would go on to whatever other I/O is ready, such as the next write's
  // whole transaction and its fsync, and the event would wait behind it. Commits in the same tick share one fan-out.
  private readonly onEvents = (latestSeq: number): void => {
    this.log.noteHead(latestSeq)
    if (this.fanoutQueued) return
    this.fanoutQueued = true
    process.nextTick(this.fanOut)
  }

  private readonly fanOut = (): void => {
    this.fanoutQueued = false
    if (this.closing) return
    try {
      this.log.refresh()
    } catch (err) {
      // Subscribers then read the log themselves, each with its own retry.
      this.logger.warn({ err }, 'firehose: refreshing the event cache failed')
    }
    for (const sub of this.subscribers) sub.pump()
  }

  // A subscriber still behind events that were just pruned would silently skip them: cut it off instead; its
  // next connection with the same cursor gets OutdatedCursor.
  private dropPrunedSubscribers(): void {
    if (this.closing) return
    const firstKept = this.sequencer.oldestSeq() ?? this.sequencer.lastAssignedSeq() + 1
    for (const sub of [...this.subscribers]) {
      if (sub.position !== null && sub.position < firstKept - 1) {
        sub.end('ConsumerTooSlow', { frame: consumerTooSlowError })
      }
    }
  }
}
