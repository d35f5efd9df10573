// Mounts the route table under /xrpc: the global rate limit is counted, params are validated with zod at the edge,
// auth is checked, then the JSON body is read and validated, the route's own rate limits are spent, the handler runs,
// and every failure leaves as an XRPC error. Methods not in the table are forwarded by the service proxy.
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import express, { type NextFunction, type Request, type Response } from 'express'
import type { z } from 'zod'
import type { AppContext } from '../context.ts'
import { setRateLimitHeaders, type Charge } from '../ratelimit/index.ts'
import { logFailedRequest } from '../request-log.ts'
import { InvalidRequestError, toXrpcError } from './errors.ts'
import { MAX_JSON_DEPTH, nestedDeeperThan } from './json-depth.ts'
import { authorizeOAuth } from './oauth-rules.ts'
import { RawOutput, type HandlerOutput, type LimitArgs, type Route } from './method.ts'

export function createXrpcRouter(ctx: AppContext, routes: readonly Route[]): express.Router {
  const router = express.Router()
  const jsonBody = express.json({ limit: ctx.cfg.maxRequestBytes, type: () => true })

  router.get('/_health', (_req, res) => {
    ctx.sequencer.checkDatabase()
    res.json({ version: ctx.version })
  })

  const byNsid = new Map(routes.map((r) => [r.nsid, r]))
  router.all('/:nsid', async (req, res, next) => {
    try {
      const ip = ctx.rateLimiter.ipKey(req)
      // Before anything else, as in the reference: unknown methods and bad requests count too. The sync reads have
      // their own, larger per-IP limit (src/ratelimit), so that crawlers are not held to this one.
      const globalStatus = isSyncRead(req.params.nsid, req.method)
        ? null
        : await ctx.rateLimiter.consume([{ limit: 'global', key: ip, points: 1 }])
      setRateLimitHeaders(res, globalStatus)
      const route = byNsid.get(req.params.nsid)
      // Methods we do not serve go to another service (src/proxy), which checks credentials before it reads a body.
      if (!route || ctx.proxy.takesOver(route.nsid, req)) return await ctx.proxy.forward(req, res, req.params.nsid)
      const expected = route.type === 'query' ? ['GET', 'HEAD'] : ['POST']
      if (!expected.includes(req.method)) {
        throw new InvalidRequestError(`Incorrect HTTP method (${req.method}) expected ${expected[0]}`)
      }
      // The handler's module, imported now if this is the method's first call (src/api/routes.ts).
      const def = await route.method()
      const params = def.params ? validate(def.params, req.query, 'Params') : {}
      // Credentials before the body, as the reference does: a caller who may not use the method never has its body
      // read, parsed and validated (up to PDS_MAX_REQUEST_BYTES of work on the event loop).
      const auth = await ctx.auth.verify(route.auth, req, res)
      // An OAuth token may do what its scopes allow: the route's rule, before the body too (as the reference's
      // `authorize`); what depends on the body is checked by the handler.
      if (auth.type === 'oauth') {
        authorizeOAuth(route.oauth, auth.permissions, {
          nsid: route.nsid,
          params: params as Record<string, unknown>,
          header: (name) => req.header(name) || undefined,
          rpcAudience: (nsid) => ctx.proxy.targets.rpcAudience(nsid, req.header('atproto-proxy') || undefined),
        })
      }
      let input: unknown = undefined
      if (def.input) {
        if (!req.headers['content-type']) {
          throw new InvalidRequestError('Request encoding (Content-Type) required but not provided')
        }
        if (!req.is('application/json')) {
          throw new InvalidRequestError(`Wrong request encoding (Content-Type): ${req.headers['content-type']}`)
        }
        await runMiddleware(jsonBody, req, res)
        if (nestedDeeperThan(req.body, MAX_JSON_DEPTH)) {
          throw new InvalidRequestError(`Input is nested too deeply (more than ${MAX_JSON_DEPTH} levels)`)
        }
        input = validate(def.input, req.body, 'Input')
      }
      if (route.limits.length > 0 && ctx.cfg.rateLimits.enabled) {
        const status = await ctx.rateLimiter.consume(routeCharges(route, { req, auth, input, ctx, ip }))
        if (status && (!globalStatus || status.remaining < globalStatus.remaining)) setRateLimitHeaders(res, status)
      }
      const output = await def.handler({ params, input, auth, ctx, req, res })
      await send(res, output)
    } catch (err) {
      next(err)
    }
  })
  router.use(xrpcErrorHandler(ctx))
  return router
}

function isSyncRead(nsid: string, method: string): boolean {
  return (method === 'GET' || method === 'HEAD') && nsid.toLowerCase().startsWith('com.atproto.sync.')
}

/** What this request spends of each of its route's limits; limits whose key is null do not count it. */
function routeCharges(route: Route, args: LimitArgs): Charge[] {
  return route.limits.flatMap((l) => {
    const key = l.key(args)
    return key === null ? [] : [{ limit: l.limit, key, points: l.points ? l.points(args) : 1 }]
  })
}

function validate<T>(schema: z.ZodType<T>, value: unknown, where: 'Params' | 'Input'): T {
  const result = schema.safeParse(value ?? {})
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const at = issue.path.join('/')
  if (issue.code === 'invalid_type' && issue.input === undefined && at) {
    throw new InvalidRequestError(`${where} must have the property "${at}"`)
  }
  throw new InvalidRequestError(at ? `${where}/${at}: ${issue.message}` : `${where}: ${issue.message}`)
}

function runMiddleware(mw: express.RequestHandler, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => mw(req, res, (err?: unknown) => (err ? reject(err) : resolve())))
}

async function send(res: Response, output: HandlerOutput): Promise<void> {
  if (output instanceof RawOutput) {
    res.status(200).type(output.contentType).set(output.headers)
    if (output.body instanceof Readable) {
      if (res.req.method === 'HEAD') {
        output.body.destroy()
        res.end()
        return
      }
      try {
        await pipeline(output.body, res)
      } catch (err) {
        // The client went away mid-stream: pipeline has already destroyed the body (ending its reads); not our fault.
        if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' && res.destroyed) return
        throw err
      }
    } else {
      res.end(output.body)
    }
  } else if (output === undefined) {
    res.status(200).end()
  } else {
    res.status(200).json(output)
  }
}

/**
 * Any error → `{error, message}`. Only real bugs become 500, with the generic message the reference sends. Logged
 * once, by request-log's rule: client faults and 501 at info, server faults at error with the stack. Also mounted
 * as the app's last handler, so that errors outside /xrpc get the same treatment instead of Express's default
 * (stack on stderr, HTML page).
 */
export function xrpcErrorHandler(ctx: AppContext) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const xrpcErr = toXrpcError(err)
    logFailedRequest(ctx.log, req, res, { status: xrpcErr.status, error: xrpcErr.error, message: xrpcErr.message }, err)
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (xrpcErr.headers) setErrorHeaders(res, xrpcErr.headers)
    res.status(xrpcErr.status).json(xrpcErr.toJSON())
  }
}

/** Sets an error's headers; the CORS list of exposed headers is added to (X-Request-Id, RateLimit-*), not replaced. */
function setErrorHeaders(res: Response, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== 'access-control-expose-headers') res.set(name, value)
    else if (!String(res.getHeader(name) ?? '').includes(value)) res.append(name, value)
  }
}
