// The doctor: checks, from the outside in, what a relay and the network need from this PDS, and says how to fix
// each problem. A library (`runDoctor`) so tests run it against local servers; `cli.ts` prints it.
// Reads: the public URL over HTTP and WebSocket, DNS, the PLC directory, handles, each relay's public endpoints,
// and the SQLite file read-only (accounts, signing keys, revs). It changes nothing on the server or elsewhere.
//
// Each check lives in its own module under ./checks/, the types they share in ./types.ts; this file runs them in order.
import type { Config } from '../config/index.ts'
import { IdentityResolver } from '../identity/resolver.ts'
import { loadLocal } from './checks/account-list.ts'
import { checkAccounts } from './checks/accounts.ts'
import { checkDns, defaultLookup } from './checks/dns.ts'
import { describeResult, healthResult } from './checks/endpoints.ts'
import { checkFirehose } from './checks/firehose.ts'
import { OAUTH_METADATA_PATH, oauthResult } from './checks/oauth.ts'
import { checkPublicUrl } from './checks/public-url.ts'
import { checkRelays } from './checks/relays.ts'
import type { CheckResult, DoctorIdentity, DoctorReport } from './types.ts'
import { fetchText } from '../util/net.ts'

// Re-exported: the public API (tests call these checks on their own).
export { checkDns, checkFirehose, checkPublicUrl }

export type DoctorOptions = {
  cfg: Config
  fetch?: typeof fetch
  /** DNS: the addresses a hostname resolves to (default node:dns lookup). */
  lookup?: (hostname: string) => Promise<string[]>
  /** DID and handle resolution (default @atproto/identity with `cfg.didPlcUrl`). */
  identity?: DoctorIdentity
  /** Per network step. */
  timeoutMs?: number
  /** After the WebSocket opens, how long to wait for a first frame. */
  frameWaitMs?: number
  /** Accounts whose identity is checked (the first N); the rest are counted. */
  maxAccounts?: number
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const { cfg } = opts
  const timeoutMs = opts.timeoutMs ?? 10_000
  const doFetch = opts.fetch ?? globalThis.fetch
  const get = (path: string) => fetchText(doFetch, new URL(path, cfg.publicUrl), timeoutMs)
  const results: CheckResult[] = []

  results.push(checkPublicUrl(cfg))
  results.push(await checkDns(cfg, opts.lookup ?? defaultLookup))

  const health = await get('/xrpc/_health')
  results.push(healthResult(cfg, health))

  const describe = await get('/xrpc/com.atproto.server.describeServer')
  results.push(describeResult(cfg, describe))

  results.push(oauthResult(cfg, await get(OAUTH_METADATA_PATH)))

  results.push(await checkFirehose(cfg, timeoutMs, opts.frameWaitMs ?? 3_000))

  const local = await loadLocal(cfg, doFetch, timeoutMs)
  const identity = opts.identity ?? IdentityResolver.forConfig(cfg)
  results.push(...(await checkAccounts(cfg, local, identity, opts.maxAccounts ?? 100, timeoutMs)))

  results.push(...(await checkRelays(cfg, local, doFetch, timeoutMs)))

  return { ok: results.every((r) => r.status !== 'fail'), results }
}
