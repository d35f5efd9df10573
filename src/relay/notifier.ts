// Asks each configured relay to crawl us (com.atproto.sync.requestCrawl {hostname}): on start, after writes
// (throttled per relay), and when poked because a relay may have dropped our firehose. A relay is only ever sent
// one request at a time; failures retry with capped exponential backoff and jitter, forever, so a relay that
// comes back after a long outage gets exactly one request at the next retry, not a backlog. Per relay the state is
// a few fields and a bounded history: a dead relay costs no memory growth.
import { EventEmitter } from 'node:events'
import type { Config } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import { isLocalOrIp } from '../util/net.ts'
import { realClock, type Clock } from './clock.ts'
import { requestCrawl, type CrawlOutcome } from './request-crawl.ts'

export type RelayTiming = {
  /** After writes: at most one request per relay per this interval (the first write goes at once). */
  writeIntervalMs: number
  /** After a poke (e.g. the firehose lost its subscribers): minimum spacing since the previous attempt. */
  pokeIntervalMs: number
  /** First retry after a failure; doubles per consecutive failure up to `retryMaxMs`, with jitter. */
  retryBaseMs: number
  retryMaxMs: number
  /** A relay that accepts the connection and never answers must not hold its one slot forever. */
  requestTimeoutMs: number
  /** Attempts kept per relay for the status page. */
  historySize: number
}

export const defaultTiming: Omit<RelayTiming, 'writeIntervalMs'> = {
  pokeIntervalMs: 60_000,
  retryBaseMs: 10_000,
  retryMaxMs: 30 * 60_000,
  requestTimeoutMs: 10_000,
  historySize: 20,
}

export type CrawlAttempt = {
  relay: string
  /** startup | write | retry | poke: <why> */
  reason: string
  startedAt: string
  finishedAt: string
  ok: boolean
  /** HTTP status, when the relay answered. */
  status?: number
  error?: string
}

export type RelayStatus = {
  url: string
  inFlight: boolean
  lastAttemptAt: string | null
  lastResult: 'ok' | 'failed' | null
  lastError: string | null
  consecutiveFailures: number
  nextAttemptAt: string | null
  nextAttemptReason: string | null
  lastSuccessAt: string | null
  /** Oldest first, at most `historySize`. */
  history: CrawlAttempt[]
}

/** What the notifier needs from the sequencer: its post-commit `events` signal. */
export type CommitSignal = {
  on(event: 'events', listener: (latestSeq: number) => void): unknown
  off(event: 'events', listener: (latestSeq: number) => void): unknown
}

export type RelayNotifierOptions = {
  cfg: Pick<Config, 'federation' | 'publicUrl'>
  sequencer?: CommitSignal
  log: Logger
  fetch?: typeof fetch
  clock?: Clock
  /** In [0, 1); the jitter source. */
  random?: () => number
  timing?: Partial<RelayTiming>
  userAgent?: string
}

type RelayState = {
  url: string
  inFlight: Promise<void> | null
  abort: AbortController | null
  /** A trigger that arrived during the request in flight, replayed when it ends. */
  wanted: { reason: string; spacingMs: number } | null
  timer: unknown
  timerAt: number | null
  timerReason: string | null
  lastAttemptAt: number | null
  lastResult: 'ok' | 'failed' | null
  lastError: string | null
  lastSuccessAt: number | null
  consecutiveFailures: number
  history: CrawlAttempt[]
}

/** Equal jitter: half the exponential step fixed, half random, so spacing still grows while peers spread out. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 40))
  return Math.round(step / 2 + (step / 2) * random())
}

export class RelayNotifier extends EventEmitter<{ attempt: [CrawlAttempt] }> {
  /** The bare hostname of PDS_PUBLIC_URL: what relays are asked to crawl. */
  readonly hostname: string
  /** False when federation is off or no relay is configured: then nothing is ever sent. */
  readonly active: boolean
  private readonly publicUrl: URL
  private readonly relays: RelayState[]
  private readonly autoStream: boolean
  private readonly sequencer: CommitSignal | undefined
  private readonly log: Logger
  private readonly fetch: typeof fetch
  private readonly clock: Clock
  private readonly random: () => number
  private readonly timing: RelayTiming
  private readonly userAgent: string
  private started = false
  private stopped = false

  constructor(opts: RelayNotifierOptions) {
    super()
    const fed = opts.cfg.federation
    this.publicUrl = new URL(opts.cfg.publicUrl)
    this.hostname = this.publicUrl.hostname
    this.active = fed.enabled && fed.relayUrls.length > 0
    this.autoStream = fed.autoStream
    this.sequencer = opts.sequencer
    this.log = opts.log
    this.fetch = opts.fetch ?? globalThis.fetch
    this.clock = opts.clock ?? realClock
    this.random = opts.random ?? Math.random
    this.timing = { ...defaultTiming, writeIntervalMs: fed.requestCrawlIntervalMs, ...opts.timing }
    this.userAgent = opts.userAgent ?? 'aurora-locus'
    this.relays = this.active
      ? fed.relayUrls.map((url) => ({
          url,
          inFlight: null,
          abort: null,
          wanted: null,
          timer: undefined,
          timerAt: null,
          timerReason: null,
          lastAttemptAt: null,
          lastResult: null,
          lastError: null,
          lastSuccessAt: null,
          consecutiveFailures: 0,
          history: [],
        }))
      : []
  }

  /** Call once the server is listening: asks every relay now, and from then on after writes (autoStream). */
  start(): void {
    if (this.started || this.stopped) return
    this.started = true
    if (!this.active) {
      this.log.info('no relay will be asked to crawl this server (PDS_FEDERATION_ENABLED is false or no relay URL is set)')
      return
    }
    if (isLocalOrIp(this.hostname) || this.publicUrl.port || this.publicUrl.protocol !== 'https:') {
      this.log.warn(
        { hostname: this.hostname },
        'relays only crawl https hostnames on the default port: set PDS_PUBLIC_URL to https://<your hostname> (run npm run doctor)',
      )
    }
    if (this.autoStream) this.sequencer?.on('events', this.onEvents)
    for (const r of this.relays) this.request(r, 'startup', 0)
  }

  /** Ask every relay again soon (at most once per `pokeIntervalMs`): the relay may have dropped our stream. */
  poke(reason: string): void {
    for (const r of this.relays) this.request(r, `poke: ${reason}`, this.timing.pokeIntervalMs)
  }

  /** For the firehose: its subscribers went away (see `watchFirehose`). */
  onSubscriberLoss(): void {
    this.poke('firehose lost its subscribers')
  }

  status(): RelayStatus[] {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
    return this.relays.map((r) => ({
      url: r.url,
      inFlight: r.inFlight !== null,
      lastAttemptAt: iso(r.lastAttemptAt),
      lastResult: r.lastResult,
      lastError: r.lastError,
      consecutiveFailures: r.consecutiveFailures,
      nextAttemptAt: iso(r.timerAt),
      nextAttemptReason: r.timerReason,
      lastSuccessAt: iso(r.lastSuccessAt),
      history: [...r.history],
    }))
  }

  /** Stop listening, cancel timers, abort requests in flight and wait for them to settle. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.sequencer?.off('events', this.onEvents)
    const pending: Promise<void>[] = []
    for (const r of this.relays) {
      this.clearTimer(r)
      r.wanted = null
      r.abort?.abort()
      if (r.inFlight) pending.push(r.inFlight)
    }
    await Promise.all(pending)
  }

  private readonly onEvents = (): void => {
    for (const r of this.relays) this.request(r, 'write', this.timing.writeIntervalMs)
  }

  private request(r: RelayState, reason: string, spacingMs: number): void {
    if (!this.started || this.stopped) return
    if (r.inFlight) {
      // Keep the trigger that may go soonest.
      if (!r.wanted || spacingMs < r.wanted.spacingMs) r.wanted = { reason, spacingMs }
      return
    }
    // A retry is already scheduled after a failure: it serves this trigger too, without adding load.
    if (r.consecutiveFailures > 0 && r.timerAt !== null) return
    const now = this.clock.now()
    const at = r.lastAttemptAt === null ? now : Math.max(now, r.lastAttemptAt + spacingMs)
    if (r.timerAt !== null) {
      if (r.timerAt <= at) return
      this.clearTimer(r)
    }
    if (at <= now) this.send(r, reason)
    else this.schedule(r, at - now, reason)
  }

  private schedule(r: RelayState, delayMs: number, reason: string): void {
    this.clearTimer(r)
    r.timerAt = this.clock.now() + delayMs
    r.timerReason = reason
    r.timer = this.clock.setTimeout(() => {
      r.timer = undefined
      r.timerAt = null
      r.timerReason = null
      if (!this.stopped) this.send(r, reason)
    }, delayMs)
  }

  private clearTimer(r: RelayState): void {
    if (r.timerAt !== null) this.clock.clearTimeout(r.timer)
    r.timer = undefined
    r.timerAt = null
    r.timerReason = null
  }

  private send(r: RelayState, reason: string): void {
    this.clearTimer(r)
    const inFlight: Promise<void> = this.attempt(r, reason)
      .catch((err) => this.log.error({ err, relay: r.url }, 'requestCrawl: notifier bug'))
      .finally(() => {
        if (r.inFlight === inFlight) r.inFlight = null
      })
    r.inFlight = inFlight
  }

  private async attempt(r: RelayState, reason: string): Promise<void> {
    const startedAt = this.clock.now()
    r.lastAttemptAt = startedAt
    const abort = new AbortController()
    r.abort = abort
    let timedOut = false
    const timeout = this.clock.setTimeout(() => {
      timedOut = true
      abort.abort()
    }, this.timing.requestTimeoutMs)
    this.log.info({ relay: r.url, hostname: this.hostname, reason }, 'requestCrawl: asking relay to crawl us')

    let outcome: CrawlOutcome
    try {
      outcome = await requestCrawl(r.url, this.hostname, { fetch: this.fetch, signal: abort.signal, userAgent: this.userAgent })
      if (timedOut && !outcome.ok) outcome = { ok: false, error: `no answer within ${this.timing.requestTimeoutMs / 1000} s` }
    } finally {
      this.clock.clearTimeout(timeout)
      r.abort = null
    }
    if (this.stopped) return

    const attempt: CrawlAttempt = {
      relay: r.url,
      reason,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(this.clock.now()).toISOString(),
      ok: outcome.ok,
      ...(outcome.status !== undefined ? { status: outcome.status } : {}),
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
    }
    r.history.push(attempt)
    if (r.history.length > this.timing.historySize) r.history.splice(0, r.history.length - this.timing.historySize)
    r.lastResult = outcome.ok ? 'ok' : 'failed'
    r.lastError = outcome.error ?? null
    // Done as far as scheduling goes: a trigger replayed below must not be parked behind this request again.
    r.inFlight = null

    if (outcome.ok) {
      r.consecutiveFailures = 0
      r.lastSuccessAt = this.clock.now()
      this.log.info({ relay: r.url, status: outcome.status, reason }, 'requestCrawl: relay accepted')
      const wanted = r.wanted
      r.wanted = null
      if (wanted) this.request(r, wanted.reason, wanted.spacingMs)
    } else {
      r.consecutiveFailures += 1
      r.wanted = null
      const delay = backoffDelay(r.consecutiveFailures, this.timing.retryBaseMs, this.timing.retryMaxMs, this.random)
      this.schedule(r, delay, 'retry')
      this.log.warn(
        {
          relay: r.url,
          reason,
          status: outcome.status,
          error: outcome.error,
          consecutiveFailures: r.consecutiveFailures,
          retryInMs: delay,
        },
        'requestCrawl: relay did not accept; will retry',
      )
    }
    this.emit('attempt', attempt)
  }
}

export function createRelayNotifier(opts: RelayNotifierOptions): RelayNotifier {
  return new RelayNotifier(opts)
}
