// The HTTP server: XRPC under /xrpc, handle verification under /.well-known, the dev PLC directory under /plc.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import cors from 'cors'
import express from 'express'
import type { Config } from './config/index.ts'
import { createContext, type AppContext } from './context.ts'
import type { Logger } from './logger.ts'
import { createPlcDirectoryRouter } from './plc-directory/index.ts'
import { createXrpcRouter } from './xrpc/router.ts'
import { routes } from './xrpc/routes.ts'

export type PdsServer = {
  ctx: AppContext
  server: http.Server
  url: string
  close: () => Promise<void>
}

export function createApp(ctx: AppContext): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', false)
  app.use(cors({ maxAge: 86400 }))

  app.get('/', (_req, res) => {
    res.type('text/plain').send(`Aurora Locus ${ctx.version}: an AT Protocol Personal Data Server\n\n` +
      'Most API routes are under /xrpc/\n')
  })
  app.get('/robots.txt', (_req, res) => {
    res.type('text/plain').send('User-agent: *\nAllow: /\n')
  })

  // Handle verification for subdomain handles: the Host header names the handle.
  app.get('/.well-known/atproto-did', (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase()
    const account = host ? ctx.accounts.store.byHandle(host) : undefined
    if (!account) {
      res.status(404).type('text/plain').send('User not found')
      return
    }
    res.type('text/plain').send(account.did)
  })

  if (ctx.cfg.embeddedPlc) app.use('/plc', createPlcDirectoryRouter(ctx.db, ctx.log))
  app.use('/xrpc', createXrpcRouter(ctx, routes))
  app.use((_req, res) => {
    res.status(404).json({ error: 'NotFound', message: 'Not Found' })
  })
  return app
}

export async function startServer(cfg: Config, log: Logger): Promise<PdsServer> {
  const ctx = await createContext(cfg, log)
  const app = createApp(ctx)
  const server = http.createServer(app)
  // Slow or idle clients must not pin sockets forever; the firehose (later) upgrades out of these limits.
  server.keepAliveTimeout = 65_000
  server.requestTimeout = 5 * 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(cfg.port, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeIdleConnections()
    }).then(() => {
      ctx.db.close()
    }))
  return { ctx, server, url: `http://localhost:${port}`, close }
}
