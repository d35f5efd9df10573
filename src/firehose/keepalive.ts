// Server-side keepalive: ping every subscriber on one shared timer; one that has not answered our pings (pong) for
// `timeoutMs` is dropped, so dead peers do not hold sockets and buffers. Its own pings do not count: a peer that
// pings but never reads our socket never sees our pings either.
import type { Logger } from '../logger.ts'
import type { Subscriber } from './subscriber.ts'

export type KeepaliveTiming = { intervalMs: number; timeoutMs: number }

export class Keepalive {
  private timing: KeepaliveTiming
  private readonly subscribers: () => Iterable<Subscriber>
  private readonly logger: Logger
  private timer: NodeJS.Timeout | undefined

  constructor(timing: KeepaliveTiming, subscribers: () => Iterable<Subscriber>, logger: Logger) {
    this.timing = timing
    this.subscribers = subscribers
    this.logger = logger
  }

  get current(): KeepaliveTiming {
    return this.timing
  }

  /** (Re)start the timer, optionally with new timing (tests use short intervals). */
  start(timing: KeepaliveTiming = this.timing): void {
    this.stop()
    this.timing = timing
    this.timer = setInterval(() => this.tick(), timing.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    const now = Date.now()
    for (const sub of [...this.subscribers()]) {
      if (now - sub.lastSeenAt > this.timing.timeoutMs) {
        this.logger.info({ remoteAddress: sub.remoteAddress, id: sub.id }, 'firehose subscriber did not answer pings')
        sub.end('KeepaliveTimeout', { terminate: true })
      } else {
        sub.ping()
      }
    }
  }
}
