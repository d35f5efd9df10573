// Start a real Aurora Locus server for a test: fresh data directory, free port, silent logs.
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { AtpAgent } from '@atproto/api'
import { parseConfig } from '../../src/config/index.ts'
import type { Now } from '../../src/account/tokens.ts'
import { createLogger, type Logger } from '../../src/logger.ts'
import type { ResponseRewriter } from '../../src/proxy/service-proxy.ts'
import { startServer, type PdsServer } from '../../src/server.ts'
import { startPlc, type TestPlc } from './plc.ts'

export type TestPds = PdsServer & {
  dataDir: string
  adminAuth: string
  agent: () => AtpAgent
  /** Stop the server and delete its data directory. */
  destroy: () => Promise<void>
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

export type StartOptions = {
  plcUrl?: string
  env?: Record<string, string>
  dataDir?: string
  /** The session clock (epoch ms), for stepping past token lifetimes without waiting. */
  now?: Now
  /** Instead of a silent logger, e.g. one writing to a stream the test reads. */
  log?: Logger
  /** The service proxy's read-after-write hook. */
  rewriter?: ResponseRewriter
}

export async function startPds(opts: StartOptions = {}) {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'aurora-test-'))
  const port = await freePort()
  const cfg = parseConfig({
    PDS_PORT: String(port),
    PDS_DATA_DIRECTORY: dataDir,
    PDS_LOG_LEVEL: 'silent',
    // Suites make many requests from one address; the rate limit suites turn the limits back on.
    PDS_RATE_LIMITS_ENABLED: 'false',
    ...(opts.plcUrl ? { PDS_DID_PLC_URL: opts.plcUrl } : {}),
    ...opts.env,
  })
  const pds = await startServer(cfg, opts.log ?? createLogger(cfg.logLevel), { now: opts.now, rewriter: opts.rewriter })
  const testPds: TestPds = {
    ...pds,
    dataDir,
    adminAuth: 'Basic ' + Buffer.from(`admin:${cfg.secrets.adminPassword}`).toString('base64'),
    agent: () => new AtpAgent({ service: pds.url }),
    destroy: async () => {
      await pds.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return testPds
}

let counter = 0
/** A unique, valid handle under the test domain. */
export function uniqueHandle(prefix = 'user'): string {
  counter += 1
  return `${prefix}${process.pid % 10000}x${counter}.test`
}

export async function createUser(pds: TestPds, handle = uniqueHandle()) {
  const agent = pds.agent()
  const password = `pw-${handle}`
  const email = `${handle.split('.')[0]}@example.com`
  const res = await agent.createAccount({ handle, email, password })
  return { agent, did: res.data.did, handle, email, password, res }
}

/** Raw XRPC call returning status and parsed body, for error assertions. */
export async function xrpc(
  pds: { url: string },
  nsid: string,
  opts: { method?: 'GET' | 'POST'; query?: Record<string, string>; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const url = new URL(`/xrpc/${nsid}`, pds.url)
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v)
  const hasBody = opts.body !== undefined || opts.rawBody !== undefined
  const res = await fetch(url, {
    method: opts.method ?? (hasBody ? 'POST' : 'GET'),
    headers: { ...(hasBody ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    body: opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined),
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {}
  return { status: res.status, body, headers: res.headers }
}

/** A real PLC directory (in-process) and a PDS registered with it: what most suites start in before(). */
export async function startServers(
  opts: Omit<StartOptions, 'plcUrl' | 'dataDir'> = {},
): Promise<{ plc: TestPlc; pds: TestPds }> {
  const plc = await startPlc()
  const pds = await startPds({ ...opts, plcUrl: plc.url })
  return { plc, pds }
}

export async function stopServers(servers: { plc?: TestPlc; pds?: TestPds }): Promise<void> {
  await servers.pds?.destroy()
  await servers.plc?.close()
}

/** GET `urlPath` on the server with `host` as the Host header (fetch() will not send a Host of its own choosing). */
export function getWithHost(pds: { url: string }, urlPath: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: new URL(pds.url).port, path: urlPath, headers: { host } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject)
    req.end()
  })
}
