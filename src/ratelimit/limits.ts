// The named XRPC limits (login, createAccount, repo write points, …) over rate-limiter-flexible's memory store. A
// limit is one or more fixed windows per key (login: 30 per 5 minutes and 300 per day). A request spends its points
// in every window of every limit it counts against; if any window says no, what was spent is given back everywhere
// and the request is refused. So a refused request costs nothing: a batch of writes too large for what is left does
// not eat the budget a smaller one could still use, and hammering while refused does not push anything further out.
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { LimitName, RateWindow } from '../config/index.ts'
import { PdsError } from '../errors.ts'

/** Where one key stands in one window: what the RateLimit-* headers say. */
export type LimitStatus = {
  /** Points per window. */
  limit: number
  remaining: number
  windowSeconds: number
  /** Until the window ends and the key has its whole budget again. */
  msBeforeReset: number
}

/** Over a limit: answered 429 RateLimitExceeded with the headers of the window that refused (src/xrpc/errors.ts). */
export class RateLimitExceededError extends PdsError {
  readonly status: LimitStatus
  constructor(status: LimitStatus) {
    super('rateLimited', 'RateLimitExceeded', 'Rate Limit Exceeded')
    this.status = status
  }
}

/** One request's charge against a named limit: `points` (≥ 1) from `key`'s budget. */
export type Charge = { limit: LimitName; key: string; points: number }

type Window = { store: RateLimiterMemory; points: number; seconds: number }

export class NamedLimits {
  private readonly windows: Map<LimitName, Window[]>

  /** `config`: each limit's windows (src/config); a limit without windows counts nothing. */
  constructor(config: Readonly<Record<LimitName, readonly RateWindow[]>>) {
    this.windows = new Map()
    for (const [name, windows] of Object.entries(config) as [LimitName, readonly RateWindow[]][]) {
      this.windows.set(
        name,
        windows.map(({ points, seconds }) => ({
          points,
          seconds,
          store: new RateLimiterMemory({ keyPrefix: `${name}-${seconds}`, points, duration: seconds }),
        })),
      )
    }
  }

  /** Whether `name` counts anything (it has a window with points). */
  has(name: LimitName): boolean {
    return (this.windows.get(name)?.length ?? 0) > 0
  }

  /**
   * Spend every charge in every window of its limit. Returns the tightest status (fewest points left) for the
   * response headers, or null when nothing was counted. Throws RateLimitExceededError, with nothing spent, when any
   * window would go over.
   */
  async consume(charges: readonly Charge[]): Promise<LimitStatus | null> {
    const spent: { store: RateLimiterMemory; key: string; points: number }[] = []
    let tightest: LimitStatus | null = null
    try {
      for (const { limit, key, points } of charges) {
        if (points < 1) continue
        for (const w of this.windows.get(limit) ?? []) {
          // The store counts the points even when it refuses them, so they are recorded as spent before the answer.
          spent.push({ store: w.store, key, points })
          const res = await w.store.consume(key, points).catch((rejection: unknown) => {
            throw rejection instanceof RateLimiterRes ? new RefusedError(statusOf(w, rejection)) : rejection
          })
          const status = statusOf(w, res)
          if (!tightest || status.remaining < tightest.remaining) tightest = status
        }
      }
      return tightest
    } catch (err) {
      await Promise.all(spent.map(({ store, key, points }) => store.reward(key, points)))
      if (err instanceof RefusedError) throw new RateLimitExceededError(err.status)
      throw err
    }
  }

  /**
   * For limits that count failures (wrong admin passwords): throws RateLimitExceededError while `key` has used up any
   * window, so that even a right answer is refused until the window ends.
   */
  async assertUnder(name: LimitName, key: string): Promise<void> {
    for (const w of this.windows.get(name) ?? []) {
      const res = await w.store.get(key)
      if (res && res.consumedPoints >= w.points) throw new RateLimitExceededError(statusOf(w, res))
    }
  }

  /** Count one failure (`points`) against `key` in every window of `name`. */
  async penalise(name: LimitName, key: string, points = 1): Promise<void> {
    for (const w of this.windows.get(name) ?? []) await w.store.penalty(key, points)
  }
}

// rate-limiter-flexible rejects with its result object, not an Error; wrapped here so the catch above can tell it
// from a real failure, and keep the status of the window that refused.
class RefusedError extends Error {
  readonly status: LimitStatus
  constructor(status: LimitStatus) {
    super('refused')
    this.status = status
  }
}

function statusOf(w: Window, res: RateLimiterRes): LimitStatus {
  return {
    limit: w.points,
    remaining: Math.max(0, w.points - res.consumedPoints),
    windowSeconds: w.seconds,
    msBeforeReset: Math.max(0, res.msBeforeNext),
  }
}
