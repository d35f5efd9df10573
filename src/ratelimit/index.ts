// Per-client limits. For crawlers: the com.atproto.sync.* reads (an Express middleware) and firehose connection
// attempts (checked on the raw `upgrade` event, which never reaches Express). For everything else under /xrpc: the
// named limits of limits.ts, which the XRPC router spends (the global one first, then the route's own, listed in the
// route table) and the admin auth check consults. In memory: one process, one host.
// The client IP comes from proxy-addr with the configured trust rule, so a request and an upgrade from the same
// client behind the same proxy get the same key; IPv6 clients are counted per /64 (ip-key.ts).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import proxyaddr from 'proxy-addr'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { Config } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import { trustProxyFn } from '../util/net.ts'
import { ipKey } from './ip-key.ts'
import { NamedLimits, type Charge, type LimitStatus } from './limits.ts'

export { ipKey } from './ip-key.ts'
export { RateLimitExceededError, type Charge, type LimitStatus } from './limits.ts'

const WINDOW_SECONDS = 60
const SYNC_PREFIX = '/xrpc/com.atproto.sync.'
const EXPOSE = 'RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Retry-After'

export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** What a request over the limit is answered with. */
export type RateLimitRefusal = { status: 429; headers: Record<string, string>; body: { error: string; message: string } }

/** Counts wrong answers to a secret per client; over the limit, even the right answer is refused. */
export type FailureGuard = {
  /** Throws RateLimitExceededError while `req`'s client is over its failure budget. */
  assertUnder(req: IncomingMessage): Promise<void>
  /** Count one failure for `req`'s client. */
  fail(req: IncomingMessage): Promise<void>
}

export type RateLimiter = {
  /** The client's address under the trust rule (IPv4-mapped IPv6 folded to IPv4). */
  clientIp(req: IncomingMessage): string
  /** Whose per-IP budget `req` spends: its client address, IPv6 folded to the /64. */
  ipKey(req: IncomingMessage): string
  /**
   * Spend a request's charges against the named limits (src/ratelimit/limits.ts). Returns the tightest status for
   * the headers, null when nothing counted (limits off); throws RateLimitExceededError, with nothing spent, when over.
   */
  consume(charges: readonly Charge[]): Promise<LimitStatus | null>
  /** Wrong admin passwords per client IP (the `adminAuthFailure` limit), for the auth verifier. */
  adminFailures: FailureGuard
  /** Mount on the app before the XRPC router; counts only GET/HEAD under /xrpc/com.atproto.sync.*, passes the rest. */
  syncMiddleware: RequestHandler
  /** Count one firehose connection attempt; null when allowed, else the 429 to send instead of upgrading. */
  checkUpgrade(req: IncomingMessage): Promise<RateLimitRefusal | null>
  /** Wrap the server's `upgrade` listener: over the limit, answer 429 on the raw socket and never call `next`. */
  guardUpgrade(next: UpgradeListener): UpgradeListener
}

export function createRateLimiter(cfg: Pick<Config, 'rateLimits' | 'trustProxy'>, opts: { log?: Logger } = {}): RateLimiter {
  const trust = trustProxyFn(cfg.trustProxy)
  const { enabled } = cfg.rateLimits
  const sync = enabled && cfg.rateLimits.syncPerMinute > 0 ? limiter('sync', cfg.rateLimits.syncPerMinute) : null
  const connects =
    enabled && cfg.rateLimits.firehoseConnectsPerMinute > 0
      ? limiter('firehose', cfg.rateLimits.firehoseConnectsPerMinute)
      : null
  const named = enabled ? new NamedLimits(cfg.rateLimits.limits) : null

  const clientIp = (req: IncomingMessage): string => {
    const addr = req.socket?.remoteAddress ? proxyaddr(req, trust) : 'unknown'
    return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr
  }
  const keyOf = (req: IncomingMessage): string => ipKey(clientIp(req))

  const consumeNamed = async (charges: readonly Charge[]): Promise<LimitStatus | null> =>
    named ? named.consume(charges) : null

  const adminFailures: FailureGuard = {
    assertUnder: async (req) => {
      await named?.assertUnder('adminAuthFailure', keyOf(req))
    },
    fail: async (req) => {
      if (!named?.has('adminAuthFailure')) return
      const ip = keyOf(req)
      opts.log?.info({ ip }, 'wrong admin password')
      await named.penalise('adminAuthFailure', ip)
    },
  }

  const syncMiddleware: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (!sync || (req.method !== 'GET' && req.method !== 'HEAD') || !isSyncPath(req.baseUrl + req.path)) {
      next()
      return
    }
    const ip = keyOf(req)
    consume(sync, ip).then(
      ({ status, refusal }) => {
        setRateLimitHeaders(res, status)
        if (!refusal) return next()
        res.set(refusal.headers)
        opts.log?.info({ ip, path: req.path }, 'sync rate limit exceeded')
        res.status(429).json(refusal.body)
      },
      // The memory store does not fail; if it ever did, serving beats refusing everyone.
      () => next(),
    )
  }

  const checkUpgrade = async (req: IncomingMessage): Promise<RateLimitRefusal | null> => {
    if (!connects) return null
    const ip = keyOf(req)
    const { refusal } = await consume(connects, ip)
    if (refusal) opts.log?.info({ ip }, 'firehose connection rate limit exceeded')
    return refusal
  }

  const guardUpgrade = (next: UpgradeListener): UpgradeListener => (req, socket, head) => {
    if (!connects) return next(req, socket, head)
    checkUpgrade(req).then(
      (refusal) => (refusal ? writeRefusal(socket, refusal) : next(req, socket, head)),
      () => next(req, socket, head),
    )
  }

  return { clientIp, ipKey: keyOf, consume: consumeNamed, adminFailures, syncMiddleware, checkUpgrade, guardUpgrade }
}

// Express matches routes case-insensitively and decodes params, so /XRPC/com%2Eatproto.sync.getRepo reaches the same
// handler: compare in the same normalized form so such spellings are counted too.
function isSyncPath(p: string): boolean {
  let decoded = p
  try {
    decoded = decodeURIComponent(p)
  } catch {}
  return decoded.toLowerCase().startsWith(SYNC_PREFIX)
}

type Limiter = { points: number; store: RateLimiterMemory }

function limiter(name: string, points: number): Limiter {
  return { points, store: new RateLimiterMemory({ keyPrefix: name, points, duration: WINDOW_SECONDS }) }
}

async function consume(l: Limiter, key: string): Promise<{ status: LimitStatus; refusal: RateLimitRefusal | null }> {
  try {
    const res = await l.store.consume(key)
    return { status: crawlerStatus(l, res), refusal: null }
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err
    const status = crawlerStatus(l, err)
    const body = { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' }
    return { status, refusal: { status: 429, headers: refusalHeaders(status), body } }
  }
}

function crawlerStatus(l: Limiter, res: RateLimiterRes): LimitStatus {
  return {
    limit: l.points,
    remaining: Math.max(0, res.remainingPoints),
    windowSeconds: WINDOW_SECONDS,
    msBeforeReset: Math.max(0, res.msBeforeNext),
  }
}

/**
 * The reference xrpc-server's headers: limit, remaining, reset as an epoch second, policy `<limit>;w=<window seconds>`.
 * Sent with every counted response.
 */
export function rateLimitHeaders(status: LimitStatus): Record<string, string> {
  return {
    'RateLimit-Limit': String(status.limit),
    'RateLimit-Remaining': String(status.remaining),
    'RateLimit-Reset': String(Math.floor((Date.now() + status.msBeforeReset) / 1000)),
    'RateLimit-Policy': `${status.limit};w=${status.windowSeconds}`,
  }
}

/** A refusal's headers: the window's, Retry-After (seconds), and the CORS exposure that lets browser apps read them. */
export function refusalHeaders(status: LimitStatus): Record<string, string> {
  return {
    ...rateLimitHeaders(status),
    'Retry-After': String(Math.max(1, Math.ceil(status.msBeforeReset / 1000))),
    'Access-Control-Expose-Headers': EXPOSE,
  }
}

/** Put a counted request's status on its response (nothing when no limit counted it). */
export function setRateLimitHeaders(res: ServerResponse, status: LimitStatus | null): void {
  if (!status) return
  for (const [k, v] of Object.entries(rateLimitHeaders(status))) res.setHeader(k, v)
  exposeHeaders(res)
}

function exposeHeaders(res: ServerResponse): void {
  const current = res.getHeader('Access-Control-Expose-Headers')
  if (!current) res.setHeader('Access-Control-Expose-Headers', EXPOSE)
  else if (!String(current).includes('RateLimit-Limit')) res.setHeader('Access-Control-Expose-Headers', `${current}, ${EXPOSE}`)
}

function writeRefusal(socket: Duplex, refusal: RateLimitRefusal): void {
  const body = JSON.stringify(refusal.body)
  const headers = Object.entries({
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...refusal.headers,
    Connection: 'close',
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.on('error', () => {}) // the peer may already be gone
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n${headers}\r\n${body}`)
}
