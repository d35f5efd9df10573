// Per-client-IP limits for crawlers: the com.atproto.sync.* reads (an Express middleware) and firehose connection
// attempts (checked on the raw `upgrade` event, which never reaches Express). In memory: one process, one host.
// The client IP comes from proxy-addr with the configured trust rule, so a request and an upgrade from the same
// client behind the same proxy get the same key.
import type { IncomingMessage } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import proxyaddr from 'proxy-addr'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import type { Config } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import { trustProxyFn } from '../util/net.ts'

const WINDOW_SECONDS = 60
const SYNC_PREFIX = '/xrpc/com.atproto.sync.'
const EXPOSE = 'RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Retry-After'

export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** What a request over the limit is answered with. */
export type RateLimitRefusal = { status: 429; headers: Record<string, string>; body: { error: string; message: string } }

export type RateLimiter = {
  /** The client's address under the trust rule (IPv4-mapped IPv6 folded to IPv4). */
  clientIp(req: IncomingMessage): string
  /** Mount on the app before the XRPC router; counts only GET/HEAD under /xrpc/com.atproto.sync.*, passes the rest. */
  syncMiddleware: RequestHandler
  /** Count one firehose connection attempt; null when allowed, else the 429 to send instead of upgrading. */
  checkUpgrade(req: IncomingMessage): Promise<RateLimitRefusal | null>
  /** Wrap the server's `upgrade` listener: over the limit, answer 429 on the raw socket and never call `next`. */
  guardUpgrade(next: UpgradeListener): UpgradeListener
}

export function createRateLimiter(cfg: Pick<Config, 'rateLimits' | 'trustProxy'>, opts: { log?: Logger } = {}): RateLimiter {
  const trust = trustProxyFn(cfg.trustProxy)
  const sync = cfg.rateLimits.syncPerMinute > 0 ? limiter('sync', cfg.rateLimits.syncPerMinute) : null
  const connects =
    cfg.rateLimits.firehoseConnectsPerMinute > 0 ? limiter('firehose', cfg.rateLimits.firehoseConnectsPerMinute) : null

  const clientIp = (req: IncomingMessage): string => {
    const addr = req.socket?.remoteAddress ? proxyaddr(req, trust) : 'unknown'
    return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr
  }

  const syncMiddleware: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (!sync || (req.method !== 'GET' && req.method !== 'HEAD') || !isSyncPath(req.baseUrl + req.path)) {
      next()
      return
    }
    const ip = clientIp(req)
    consume(sync, ip).then(
      ({ headers, refusal }) => {
        res.set(headers)
        res.append('Access-Control-Expose-Headers', EXPOSE)
        if (!refusal) return next()
        opts.log?.info({ ip, path: req.path }, 'sync rate limit exceeded')
        res.status(429).json(refusal.body)
      },
      // The memory store does not fail; if it ever did, serving beats refusing everyone.
      () => next(),
    )
  }

  const checkUpgrade = async (req: IncomingMessage): Promise<RateLimitRefusal | null> => {
    if (!connects) return null
    const ip = clientIp(req)
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

  return { clientIp, syncMiddleware, checkUpgrade, guardUpgrade }
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

async function consume(l: Limiter, key: string): Promise<{ headers: Record<string, string>; refusal: RateLimitRefusal | null }> {
  try {
    const res = await l.store.consume(key)
    return { headers: statusHeaders(l, res), refusal: null }
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err
    const headers = {
      ...statusHeaders(l, err),
      'Retry-After': String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))),
    }
    return { headers, refusal: { status: 429, headers, body: { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' } } }
  }
}

// The reference xrpc-server's headers: reset is an epoch second, the policy "<limit>;w=<window seconds>".
function statusHeaders(l: Limiter, res: RateLimiterRes): Record<string, string> {
  return {
    'RateLimit-Limit': String(l.points),
    'RateLimit-Remaining': String(Math.max(0, res.remainingPoints)),
    'RateLimit-Reset': String(Math.floor((Date.now() + res.msBeforeNext) / 1000)),
    'RateLimit-Policy': `${l.points};w=${WINDOW_SECONDS}`,
  }
}

function writeRefusal(socket: Duplex, refusal: RateLimitRefusal): void {
  const body = JSON.stringify(refusal.body)
  const headers = Object.entries({
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...refusal.headers,
    'Access-Control-Expose-Headers': EXPOSE,
    Connection: 'close',
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.on('error', () => {}) // the peer may already be gone
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n${headers}\r\n${body}`)
}
