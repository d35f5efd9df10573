// One firehose connection. It remembers the last seq it took from the log and pulls the next page only while its
// socket has room, and no more than that room, so replay and live delivery are one loop: no gap and no duplicate at
// the switch, and a reader that stalls holds at most one window of frames in memory (in bytes: the window plus one
// frame) while everything else waits in the log. A reader whose socket writes nothing out for `stallMs` is cut off,
// in replay as when live.
import { WebSocket } from 'ws'
import type { Logger } from '../logger.ts'
import type { SeqRow } from '../sequencer/sequencer.ts'
import type { Start } from './cursor.ts'
import type { EventLog } from './event-log.ts'
import { CLOSE_POLICY, consumerTooSlowError, futureCursorError, outdatedCursorInfo } from './messages.ts'

export type SubscriberLimits = {
  /** Events a live subscriber may fall behind the newest before it is cut off with ConsumerTooSlow. */
  maxBuffer: number
  /**
   * At most this many frames, and this many bytes plus one frame, read from the log and not yet written out: pages
   * are read no larger than the room left, so this bounds replay as well as live delivery.
   */
  windowEvents: number
  windowBytes: number
  /** Frames queued in the socket and none written out for this long (ms): cut off with ConsumerTooSlow. */
  stallMs: number
  /** Events read from the log at a time. */
  pageSize: number
  /** Backoff when the log cannot be read. */
  retryMinMs: number
  retryMaxMs: number
  /** After our close frame, how long the peer has to answer before the socket is cut. */
  closeGraceMs: number
}

export type EndReason =
  | 'Disconnected'
  | 'ConsumerTooSlow'
  | 'FutureCursor'
  | 'InvalidRequest'
  | 'KeepaliveTimeout'
  | 'ServerShutdown'

export type SubscriberInfo = {
  id: number
  remoteAddress: string
  connectedAt: string
  cursor: number | null
  /** Caught up with the log at least once (from then on ConsumerTooSlow applies). */
  live: boolean
  /** Last seq written to the socket. */
  lastSentSeq: number
  /** Events behind the newest seq. */
  lag: number
  /** Frames read from the log, not yet handed to the socket. */
  queued: number
  /** Frames handed to the socket, not yet written out. */
  inFlight: number
  bufferedBytes: number
  retrying: boolean
}

type SubscriberDeps = {
  id: number
  ws: WebSocket
  remoteAddress: string
  cursor: number | undefined
  log: EventLog
  limits: SubscriberLimits
  logger: Logger
  /** Where to start; called on the first pump (and again if reading the log failed). */
  resolveStart: () => Start
  onEnd: (sub: Subscriber, reason: EndReason) => void
}

export class Subscriber {
  readonly id: number
  readonly remoteAddress: string
  readonly cursor: number | undefined
  readonly connectedAt = new Date().toISOString()
  /**
   * When the peer last answered one of our pings, for the keepalive. Only a pong counts: a peer that sends its own
   * pings (or anything else) but never reads would otherwise look alive forever.
   */
  lastSeenAt = Date.now()

  private readonly ws: WebSocket
  private readonly log: EventLog
  private readonly limits: SubscriberLimits
  private readonly logger: Logger
  private readonly resolveStart: () => Start
  private readonly onEnd: (sub: Subscriber, reason: EndReason) => void

  private state: 'starting' | 'streaming' | 'ended' = 'starting'
  private live = false
  /** Last seq taken from the log (queued or sent). */
  private taken = 0
  /** Last seq the socket has written out. */
  private written = 0
  private queue: SeqRow[] = []
  private inFlight = 0
  private waitingForRoom = false
  private scheduled: NodeJS.Immediate | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private retryDelay = 0
  private graceTimer: NodeJS.Timeout | undefined
  /** When a frame was last written out, or sending last started on an idle socket. */
  private progressAt = 0
  private stallTimer: NodeJS.Timeout | undefined
  private pongQueued = false

  constructor(deps: SubscriberDeps) {
    this.id = deps.id
    this.ws = deps.ws
    this.remoteAddress = deps.remoteAddress
    this.cursor = deps.cursor
    this.log = deps.log
    this.limits = deps.limits
    this.logger = deps.logger
    this.resolveStart = deps.resolveStart
    this.onEnd = deps.onEnd
    this.ws.on('pong', () => (this.lastSeenAt = Date.now()))
    // The server does not pong automatically: a peer that floods pings and never reads would fill the socket with
    // our answers. At most one pong waits in the socket; pings meanwhile are answered by it (RFC 6455 5.5.3 allows
    // answering only some). Messages from clients are ignored.
    this.ws.on('ping', (data) => {
      if (this.pongQueued || this.ws.readyState !== WebSocket.OPEN) return
      this.pongQueued = true
      this.ws.pong(data, undefined, () => (this.pongQueued = false))
    })
    this.ws.on('error', (err) => this.logger.debug({ err, remoteAddress: this.remoteAddress }, 'firehose socket error'))
    this.ws.on('close', () => {
      clearTimeout(this.graceTimer)
      clearTimeout(this.stallTimer)
      this.end('Disconnected')
    })
  }

  /** The last seq taken from the log while streaming, else null. */
  get position(): number | null {
    return this.state === 'streaming' ? this.taken : null
  }

  /** Send whatever the socket has room for. Called on new events, on drain, and on retry. */
  pump(): void {
    if (this.state === 'ended' || this.retryTimer) return
    try {
      if (this.state === 'starting') this.begin(this.resolveStart())
      this.fill()
      this.retryDelay = 0
    } catch (err) {
      this.retryLater(err)
    }
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping()
  }

  /** Stop streaming. With a frame: send it, then close with `code`; `terminate`: drop the socket at once. */
  end(reason: EndReason, how: { frame?: Uint8Array; code?: number; terminate?: boolean } = {}): void {
    if (this.state === 'ended') return
    this.state = 'ended'
    this.queue = []
    clearImmediate(this.scheduled)
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    clearTimeout(this.stallTimer)
    if (how.terminate) {
      this.ws.terminate()
    } else if (this.ws.readyState === WebSocket.OPEN) {
      if (how.frame) this.ws.send(how.frame, { binary: true })
      this.ws.close(how.code ?? CLOSE_POLICY, reason)
      // A peer that does not read will never answer the close frame.
      this.graceTimer = setTimeout(() => this.ws.terminate(), this.limits.closeGraceMs)
      this.graceTimer.unref()
    }
    this.onEnd(this, reason)
  }

  info(): SubscriberInfo {
    return {
      id: this.id,
      remoteAddress: this.remoteAddress,
      connectedAt: this.connectedAt,
      cursor: this.cursor ?? null,
      live: this.live,
      lastSentSeq: this.written,
      lag: Math.max(0, this.log.head - this.written),
      queued: this.queue.length,
      inFlight: this.inFlight,
      bufferedBytes: this.ws.bufferedAmount,
      retrying: this.retryTimer !== undefined,
    }
  }

  private begin(start: Start): void {
    if (start.kind === 'future') {
      this.end('FutureCursor', { frame: futureCursorError })
      return
    }
    if (start.kind === 'replay' && start.outdated) this.ws.send(outdatedCursorInfo, { binary: true })
    this.taken = this.written = start.after
    this.live = start.kind === 'live'
    this.state = 'streaming'
  }

  private fill(): void {
    if (this.state !== 'streaming') return
    // Too slow: live, too far behind, and its socket is what holds it back (not, say, a log read we had to retry).
    if (this.live && this.log.head - this.written > this.limits.maxBuffer && !this.hasRoom(1)) {
      this.end('ConsumerTooSlow', { frame: consumerTooSlowError })
      return
    }
    while (this.hasRoom(1)) {
      if (this.queue.length === 0) {
        if (this.taken >= this.log.head) {
          this.live = true
          return
        }
        // No more than the socket has room for: what is read is sent at once, and the queue stays (nearly) empty.
        const page = this.log.page(
          this.taken,
          Math.min(this.limits.pageSize, this.limits.windowEvents - this.inFlight),
          this.limits.windowBytes - this.ws.bufferedAmount,
        )
        if (page.rows.length === 0) {
          if (page.through <= this.taken) {
            this.live = true
            return
          }
          // Nothing left between here and `through` (deleted events): step over the hole.
          this.taken = page.through
          if (this.inFlight === 0) this.written = this.taken
          continue
        }
        this.queue = page.rows
        this.taken = page.rows.at(-1)!.seq
      }
      this.send(this.queue.shift()!)
    }
    this.waitingForRoom = true
  }

  private send(row: SeqRow): void {
    if (this.inFlight === 0) {
      this.progressAt = Date.now()
      this.watchStall(this.limits.stallMs)
    }
    this.inFlight += 1
    this.ws.send(row.frame, { binary: true }, (err) => {
      this.inFlight -= 1
      if (err || this.state === 'ended') return
      this.progressAt = Date.now()
      if (row.seq > this.written) this.written = row.seq
      if (this.inFlight === 0 && this.queue.length === 0) this.written = this.taken
      // Resume at half a window, not at every written frame.
      if (this.waitingForRoom && this.hasRoom(2)) {
        this.waitingForRoom = false
        this.schedule()
      }
    })
  }

  private hasRoom(divisor: number): boolean {
    return (
      this.inFlight < this.limits.windowEvents / divisor && this.ws.bufferedAmount < this.limits.windowBytes / divisor
    )
  }

  // One timer per subscriber, armed while frames are in flight and pushed back lazily: progress only stamps a time.
  private watchStall(delay: number): void {
    if (this.stallTimer) return
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined
      if (this.state === 'ended' || this.inFlight === 0) return
      const idle = Date.now() - this.progressAt
      if (idle < this.limits.stallMs) return this.watchStall(this.limits.stallMs - idle)
      this.logger.info(
        { id: this.id, remoteAddress: this.remoteAddress, stalledMs: idle, bufferedBytes: this.ws.bufferedAmount },
        'firehose subscriber stopped reading',
      )
      this.end('ConsumerTooSlow', { frame: consumerTooSlowError })
    }, delay)
    this.stallTimer.unref()
  }

  private schedule(): void {
    if (this.scheduled || this.state === 'ended') return
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined
      this.pump()
    })
  }

  private retryLater(err: unknown): void {
    const first = this.retryDelay === 0
    this.retryDelay = first ? this.limits.retryMinMs : Math.min(this.retryDelay * 2, this.limits.retryMaxMs)
    // One warning per streak of failures, not one per attempt.
    this.logger[first ? 'warn' : 'debug'](
      { err, id: this.id, remoteAddress: this.remoteAddress, retryInMs: this.retryDelay },
      'firehose: reading the event log failed; retrying',
    )
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.pump()
    }, this.retryDelay)
    this.retryTimer.unref()
  }
}
