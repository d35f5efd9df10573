// The doctor: checks, from the outside in, what a relay and the network need from this PDS, and says how to fix
// each problem. A library (`runDoctor`) so tests run it against local servers; `cli.ts` prints it.
// Reads: the public URL over HTTP and WebSocket, DNS, the PLC directory, handles, each relay's public endpoints,
// and the SQLite file read-only (accounts, signing keys, revs). It changes nothing on the server or elsewhere.
import dns from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { getHandle, getPdsEndpoint, isValidDidDoc } from '@atproto/common-web'
import { getKey } from '@atproto/identity'
import Database from 'better-sqlite3'
import WebSocket from 'ws'
import type { Config } from '../config/index.ts'
import { keypairFromHex } from '../identity/keys.ts'
import { IdentityResolver } from '../identity/resolver.ts'
import { describeNetworkError, isLocalOrIp } from '../relay/notifier.ts'
import { relayView, type RelayView } from '../relay/relay-view.ts'
import { decodeFrame } from '../sequencer/frames.ts'
import { mapLimit } from '../util/map-limit.ts'

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'

export type CheckResult = {
  /** Stable: public-url, dns, health, describe-server, firehose, accounts, account:<did>, federation, relay:<url> */
  id: string
  status: CheckStatus
  /** One plain sentence: what was found. */
  detail: string
  /** What to do about it (warn/fail). */
  fix?: string
  data?: unknown
}

export type DoctorReport = { ok: boolean; results: CheckResult[] }

/** The resolver calls the doctor makes; injectable so tests never leave the machine. */
export type DoctorIdentity = {
  didDoc(did: string, forceRefresh?: boolean): Promise<Record<string, unknown> | null>
  handle(handle: string): Promise<string | undefined>
}

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

type LocalAccount = { did: string; handle: string; signingKeyHex?: string; active: boolean; rev?: string }
type Local = { accounts: LocalAccount[]; latestSeq: number | null; source: 'database' | 'listRepos'; total: number }

// Handles under these can never resolve from the internet (RFC 2606/6761): fine for local testing only.
const RESERVED_TLDS = new Set(['test', 'local', 'localhost', 'invalid', 'example'])

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const { cfg } = opts
  const timeoutMs = opts.timeoutMs ?? 10_000
  const doFetch = opts.fetch ?? globalThis.fetch
  const get = (path: string) => fetchText(doFetch, new URL(path, cfg.publicUrl), timeoutMs)
  const results: CheckResult[] = []

  results.push(checkPublicUrl(cfg))
  results.push(await checkDns(cfg, opts.lookup ?? defaultLookup))

  const health = await get('/xrpc/_health')
  results.push(
    health.ok
      ? { id: 'health', status: 'pass', detail: `${cfg.publicUrl}/xrpc/_health answers (${health.text.trim().slice(0, 80)})` }
      : {
          id: 'health',
          status: 'fail',
          detail: `${cfg.publicUrl}/xrpc/_health: ${health.error}`,
          fix:
            `check that the PDS is running (port ${cfg.port}) and that whatever serves ${cfg.publicUrl} (DNS, ` +
            'firewall, reverse proxy) forwards to it',
        },
  )

  const describe = await get('/xrpc/com.atproto.server.describeServer')
  results.push(describeResult(cfg, describe))

  results.push(await checkFirehose(cfg, timeoutMs, opts.frameWaitMs ?? 3_000))

  const local = await loadLocal(cfg, doFetch, timeoutMs)
  const identity = opts.identity ?? new IdentityResolver({ plcUrl: cfg.didPlcUrl, devMode: cfg.devMode })
  results.push(...(await checkAccounts(cfg, local, identity, opts.maxAccounts ?? 100, timeoutMs)))

  results.push(...(await checkRelays(cfg, local, doFetch, timeoutMs)))

  return { ok: results.every((r) => r.status !== 'fail'), results }
}

// ---------------------------------------------------------------------------------------------------------------
// Public URL and DNS

export function checkPublicUrl(cfg: Pick<Config, 'publicUrl' | 'hostname' | 'devMode'>): CheckResult {
  const u = new URL(cfg.publicUrl)
  const problems: string[] = []
  const fixes: string[] = []
  if (u.protocol !== 'https:') {
    problems.push('is not https')
    fixes.push('put TLS in front of the PDS (see nginx.conf) and set PDS_PUBLIC_URL=https://<your hostname>')
  }
  if (u.port) {
    problems.push(`has a port (:${u.port})`)
    fixes.push('relays connect to the default port only: serve the PDS on 443 and drop the port from PDS_PUBLIC_URL')
  }
  if (isLocalOrIp(u.hostname)) {
    problems.push(`has no public hostname (${u.hostname})`)
    fixes.push('use a DNS name such as pds.example.com: relays refuse localhost and IP addresses')
  }
  if (u.pathname !== '/' || u.search || u.hash) {
    problems.push(`has a path (${u.pathname})`)
    fixes.push('serve the PDS at the root of its hostname: relays only know hostnames')
  }
  const severity: CheckStatus = cfg.devMode ? 'warn' : 'fail'
  if (problems.length) {
    return {
      id: 'public-url',
      status: severity,
      detail:
        `PDS_PUBLIC_URL ${cfg.publicUrl} ${problems.join(', ')}` +
        (cfg.devMode ? ' (dev mode: fine for local testing, but no relay can crawl it)' : ''),
      fix: fixes.join('; '),
    }
  }
  if (u.hostname !== cfg.hostname) {
    return {
      id: 'public-url',
      status: 'warn',
      detail: `PDS_PUBLIC_URL's host ${u.hostname} differs from PDS_HOSTNAME ${cfg.hostname}`,
      fix: 'make them the same unless you know why not: handles and the service DID use PDS_HOSTNAME',
    }
  }
  return { id: 'public-url', status: 'pass', detail: `PDS_PUBLIC_URL ${cfg.publicUrl} is https on the default port with a hostname` }
}

async function defaultLookup(hostname: string): Promise<string[]> {
  return (await dns.lookup(hostname, { all: true })).map((a) => a.address)
}

export async function checkDns(cfg: Pick<Config, 'publicUrl' | 'devMode'>, lookup: (h: string) => Promise<string[]>): Promise<CheckResult> {
  const host = new URL(cfg.publicUrl).hostname.replace(/^\[|\]$/g, '')
  if (net.isIP(host)) {
    return { id: 'dns', status: cfg.devMode ? 'warn' : 'fail', detail: `${host} is an IP address: nothing to resolve`, fix: 'use a DNS name' }
  }
  let addresses: string[]
  try {
    addresses = await lookup(host)
  } catch (err) {
    return {
      id: 'dns',
      status: cfg.devMode ? 'warn' : 'fail',
      detail: `${host} does not resolve (${(err as { code?: string }).code ?? describeNetworkError(err)})`,
      fix: `create an A (and/or AAAA) record for ${host} pointing at this server, and a wildcard *.${host} for user handles`,
    }
  }
  if (!addresses.length) {
    return { id: 'dns', status: cfg.devMode ? 'warn' : 'fail', detail: `${host} resolves to no address`, fix: `create an A record for ${host}` }
  }
  const privateOnes = addresses.filter(isPrivateAddress)
  if (privateOnes.length === addresses.length && !cfg.devMode) {
    return {
      id: 'dns',
      status: 'warn',
      detail: `${host} resolves only to private addresses (${addresses.join(', ')}): relays on the internet cannot reach them`,
      fix: `point the public DNS record for ${host} at this server's public address`,
    }
  }
  return { id: 'dns', status: 'pass', detail: `${host} resolves to ${addresses.join(', ')}` }
}

function isPrivateAddress(a: string): boolean {
  const v4 = a.replace(/^::ffff:/, '')
  if (net.isIPv4(v4)) {
    const [x, y] = v4.split('.').map(Number)
    return x === 10 || x === 127 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 169 && y === 254)
  }
  const l = a.toLowerCase()
  return l === '::1' || l.startsWith('fc') || l.startsWith('fd') || l.startsWith('fe80')
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP through the public URL

type Fetched = { ok: true; status: number; text: string } | { ok: false; status?: number; text?: string; error: string }

async function fetchText(doFetch: typeof fetch, url: URL, timeoutMs: number): Promise<Fetched> {
  try {
    const res = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } })
    const text = await res.text()
    if (res.ok) return { ok: true, status: res.status, text }
    return { ok: false, status: res.status, text, error: `HTTP ${res.status} ${text.trim().slice(0, 120)}`.trim() }
  } catch (err) {
    const name = (err as { name?: string }).name
    return { ok: false, error: name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : describeNetworkError(err) }
  }
}

function describeResult(cfg: Config, res: Fetched): CheckResult {
  if (!res.ok) {
    return {
      id: 'describe-server',
      status: 'fail',
      detail: `describeServer through ${cfg.publicUrl}: ${res.error}`,
      fix: `make ${cfg.publicUrl}/xrpc/ reach the PDS (the proxy must forward every path under /xrpc/)`,
    }
  }
  let did: unknown
  try {
    did = (JSON.parse(res.text) as { did?: unknown }).did
  } catch {}
  if (did !== cfg.serviceDid) {
    return {
      id: 'describe-server',
      status: 'fail',
      detail: `describeServer through ${cfg.publicUrl} names ${String(did)}, not this server (${cfg.serviceDid})`,
      fix: `${cfg.publicUrl} reaches another server: point DNS/the proxy at this PDS, or fix PDS_HOSTNAME`,
    }
  }
  return { id: 'describe-server', status: 'pass', detail: `describeServer answers through the public URL as ${cfg.serviceDid}` }
}

// ---------------------------------------------------------------------------------------------------------------
// Firehose through the public URL

const UPGRADE_FIX =
  'the reverse proxy must pass WebSocket upgrades on /xrpc/com.atproto.sync.subscribeRepos; nginx: ' +
  'proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade ' +
  '(see nginx.conf), and a read timeout of an hour or more'

export async function checkFirehose(cfg: Config, timeoutMs: number, frameWaitMs: number): Promise<CheckResult> {
  const url = `${cfg.publicUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`
  return new Promise<CheckResult>((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, maxPayload: 6 * 1024 * 1024 })
    let frameTimer: NodeJS.Timeout | undefined
    let settled = false
    const done = (r: CheckResult) => {
      if (settled) return
      settled = true
      clearTimeout(frameTimer)
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
      resolve(r)
    }
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body = (body + c).slice(0, 2000)))
      res.on('error', () => {})
      res.on('end', () => done(refusedUpgrade(cfg, res.statusCode ?? 0, body)))
    })
    ws.on('open', () => {
      frameTimer = setTimeout(
        () =>
          done({
            id: 'firehose',
            status: 'pass',
            detail: 'subscribeRepos upgrades to a WebSocket through the public URL (no event to replay yet, so no frame)',
          }),
        frameWaitMs,
      )
    })
    ws.on('message', (data: Buffer) => {
      let what: string
      try {
        const { header, body } = decodeFrame(new Uint8Array(data))
        if (header.op === -1) {
          return done({
            id: 'firehose',
            status: 'fail',
            detail: `subscribeRepos sent an error frame: ${String(body.error)} ${String(body.message ?? '')}`.trim(),
            fix: 'see the PDS log around this time',
          })
        }
        what = `${header.t ?? '?'}${typeof body.seq === 'number' ? ` seq ${body.seq}` : ''}`
      } catch (err) {
        return done({
          id: 'firehose',
          status: 'fail',
          detail: `subscribeRepos sent a frame that does not decode (${(err as Error).message})`,
          fix: 'something between the relay and the PDS alters WebSocket messages: check the proxy',
        })
      }
      done({ id: 'firehose', status: 'pass', detail: `subscribeRepos streams through the public URL (first frame: ${what})` })
    })
    ws.on('error', (err) => {
      const message = describeNetworkError(err)
      done({
        id: 'firehose',
        status: 'fail',
        detail: `WebSocket to ${url}: ${message}`,
        // A connection or TLS failure is about reaching the server at all, not about upgrades.
        fix: /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|certificate|TLS|SSL/i.test(message)
          ? `make ${cfg.publicUrl} reachable first (see the checks above)`
          : UPGRADE_FIX,
      })
    })
    ws.on('close', (code) =>
      done({
        id: 'firehose',
        status: 'fail',
        detail: `subscribeRepos closed the connection before any frame (code ${code})`,
        fix: UPGRADE_FIX,
      }),
    )
  })
}

function refusedUpgrade(cfg: Config, status: number, body: string): CheckResult {
  let error: string | undefined
  try {
    error = (JSON.parse(body) as { error?: string }).error
  } catch {}
  const base = { id: 'firehose' }
  if (status === 501 && error === 'MethodNotImplemented') {
    return { ...base, status: 'fail', detail: 'the firehose is disabled on this PDS', fix: 'set PDS_FEDERATION_FIREHOSE_ENABLED=true' }
  }
  if (status === 429) {
    return {
      ...base,
      status: 'warn',
      detail: 'subscribeRepos answered 429: this address is over the firehose connection limit',
      fix: 'try again in a minute; if a proxy hides client addresses, set PDS_TRUST_PROXY so each client gets its own limit',
    }
  }
  // Our own server answers 426 only to a GET without `Upgrade`: a proxy in between dropped the header.
  const detail =
    status === 426
      ? `the WebSocket upgrade reached the PDS without its Upgrade header (HTTP 426): the proxy in front of ${cfg.publicUrl} drops it`
      : `the WebSocket upgrade to subscribeRepos through ${cfg.publicUrl} was refused with HTTP ${status}` +
        (error ? ` (${error})` : '')
  return { ...base, status: 'fail', detail, fix: UPGRADE_FIX }
}

// ---------------------------------------------------------------------------------------------------------------
// Accounts: DID documents and handles

async function loadLocal(cfg: Config, doFetch: typeof fetch, timeoutMs: number): Promise<Local | { error: string }> {
  let db: Database.Database | undefined
  try {
    db = new Database(cfg.dbPath, { readonly: true, fileMustExist: true })
    const rows = db
      .prepare(
        `SELECT a.did, a.handle, a.signing_key_hex, a.deactivated_at, a.takedown_ref, r.rev
           FROM account a LEFT JOIN repo_root r ON r.did = a.did ORDER BY a.created_at, a.did`,
      )
      .all() as {
      did: string
      handle: string
      signing_key_hex: string
      deactivated_at: string | null
      takedown_ref: string | null
      rev: string | null
    }[]
    const latestSeq = db.prepare('SELECT max(seq) FROM repo_seq').pluck().get() as number | null
    return {
      source: 'database',
      total: rows.length,
      latestSeq,
      accounts: rows.map((r) => ({
        did: r.did,
        handle: r.handle,
        signingKeyHex: r.signing_key_hex,
        active: !r.deactivated_at && !r.takedown_ref,
        ...(r.rev ? { rev: r.rev } : {}),
      })),
    }
  } catch (dbErr) {
    // Not on the server's machine (or no access): fall back to what the PDS publishes.
    const fromHttp = await listReposOverHttp(cfg, doFetch, timeoutMs)
    if ('error' in fromHttp) {
      return { error: `database ${cfg.dbPath}: ${(dbErr as Error).message}; listRepos: ${fromHttp.error}` }
    }
    return fromHttp
  } finally {
    db?.close()
  }
}

async function listReposOverHttp(cfg: Config, doFetch: typeof fetch, timeoutMs: number): Promise<Local | { error: string }> {
  const accounts: LocalAccount[] = []
  let cursor: string | undefined
  for (let page = 0; page < 20; page++) {
    const url = new URL('/xrpc/com.atproto.sync.listRepos', cfg.publicUrl)
    url.searchParams.set('limit', '1000')
    if (cursor) url.searchParams.set('cursor', cursor)
    const res = await fetchText(doFetch, url, timeoutMs)
    if (!res.ok) return { error: res.error }
    const body = JSON.parse(res.text) as { repos: { did: string; rev?: string; active?: boolean }[]; cursor?: string }
    for (const r of body.repos) accounts.push({ did: r.did, handle: '', active: r.active !== false, ...(r.rev ? { rev: r.rev } : {}) })
    cursor = body.cursor
    if (!cursor) break
  }
  return { source: 'listRepos', total: accounts.length, latestSeq: null, accounts }
}

async function checkAccounts(
  cfg: Config,
  local: Local | { error: string },
  identity: DoctorIdentity,
  maxAccounts: number,
  timeoutMs: number,
): Promise<CheckResult[]> {
  if ('error' in local) {
    return [
      {
        id: 'accounts',
        status: 'warn',
        detail: `could not list accounts (${local.error})`,
        fix: 'run the doctor on the PDS machine with the same PDS_DATA_DIRECTORY, or fix the checks above',
      },
    ]
  }
  const active = local.accounts.filter((a) => a.active)
  const checked = active.slice(0, maxAccounts)
  const results = await mapLimit(checked, 8, (a) => checkAccount(cfg, a, identity, timeoutMs))
  const problems = results.filter((r): r is CheckResult => r !== null)
  const failing = problems.filter((p) => p.status === 'fail').length
  const notes = [
    local.source === 'listRepos' ? 'signing keys not checked: the database is not readable here' : '',
    active.length > checked.length ? `checked the first ${checked.length} of ${active.length} active accounts` : '',
    local.total > active.length ? `${local.total - active.length} inactive skipped` : '',
  ].filter(Boolean)
  const summary: CheckResult = {
    id: 'accounts',
    status: failing ? 'fail' : 'pass',
    detail:
      (local.total === 0
        ? 'no accounts yet'
        : failing
          ? `${failing} of ${checked.length} accounts have identity problems (listed above)`
          : `${checked.length} account${checked.length === 1 ? '' : 's'}: DID documents point here${
              local.source === 'database' ? ' with the current signing keys' : ''
            } and handles resolve back`) + (notes.length ? ` (${notes.join('; ')})` : ''),
  }
  return [...problems, summary]
}

/** null when the account is fine; otherwise one result naming every problem found. */
async function checkAccount(cfg: Config, a: LocalAccount, identity: DoctorIdentity, timeoutMs: number): Promise<CheckResult | null> {
  const id = `account:${a.did}`
  const who = a.handle ? `${a.handle} (${a.did})` : a.did
  let doc: Record<string, unknown> | null
  try {
    doc = await withTimeout(identity.didDoc(a.did, true), timeoutMs)
  } catch (err) {
    return {
      id,
      status: 'fail',
      detail: `${who}: the DID document could not be fetched from ${cfg.didPlcUrl} (${describeNetworkError(err)})`,
      fix: 'check PDS_DID_PLC_URL and that this machine can reach the directory',
    }
  }
  if (!doc || !isValidDidDoc(doc)) {
    return {
      id,
      status: 'fail',
      detail: `${who}: ${doc ? 'the DID document is malformed' : `the DID does not exist at ${cfg.didPlcUrl}`}`,
      fix: 'the account was registered with another directory (did PDS_DID_PLC_URL change?): restore the old value',
    }
  }
  const problems: string[] = []
  const fixes: string[] = []
  let status: CheckStatus = 'fail'

  const pds = getPdsEndpoint(doc)
  if (!pds || trimSlash(pds) !== trimSlash(cfg.publicUrl)) {
    problems.push(pds ? `the DID document names PDS ${pds}, not ${cfg.publicUrl}` : 'the DID document names no PDS')
    fixes.push(
      `if PDS_PUBLIC_URL changed, submit a PLC operation (signed with the PDS rotation key) setting the atproto_pds ` +
        `service to ${cfg.publicUrl}; if the account moved to another PDS, deactivate or delete it here`,
    )
  }
  if (a.signingKeyHex) {
    const ours = (await keypairFromHex(a.signingKeyHex)).did()
    // Normalized to a compressed did:key whatever the document's key type (Multikey or the legacy 2019 types).
    const theirs = getKey(doc)
    if (theirs !== ours) {
      problems.push(`the DID document's signing key is ${theirs ?? 'missing'}, but this PDS signs with ${ours}`)
      fixes.push(`submit a PLC operation setting verificationMethods.atproto to ${ours}: until then relays reject every commit`)
    }
  }
  const docHandle = getHandle(doc)
  const handle = a.handle || docHandle
  if (a.handle && docHandle?.toLowerCase() !== a.handle.toLowerCase()) {
    problems.push(`the DID document's handle is ${docHandle ?? 'missing'}, not ${a.handle}`)
    fixes.push(`submit a PLC operation setting alsoKnownAs to at://${a.handle}`)
  }
  if (handle) {
    const reserved = RESERVED_TLDS.has(handle.split('.').pop()!.toLowerCase())
    let resolved: string | undefined
    let error: string | undefined
    try {
      resolved = await withTimeout(
        reserved && cfg.devMode ? wellKnownVia(cfg.publicUrl, handle, timeoutMs) : identity.handle(handle),
        timeoutMs,
      )
    } catch (err) {
      error = describeNetworkError(err)
    }
    if (resolved !== a.did) {
      problems.push(`the handle ${handle} resolves to ${resolved ?? `nothing${error ? ` (${error})` : ''}`}`)
      fixes.push(
        `publish DNS TXT _atproto.${handle} "did=${a.did}", or serve https://${handle}/.well-known/atproto-did ` +
          `(for handles under ${cfg.hostname}: a wildcard DNS record and proxy server_name *.${cfg.hostname})`,
      )
    } else if (reserved && !problems.length) {
      status = 'warn'
      problems.push(`the handle ${handle} resolves only through this server: .${handle.split('.').pop()} names never resolve on the internet`)
      fixes.push('fine for local testing; real accounts need handles under a real domain (PDS_SERVICE_HANDLE_DOMAINS)')
    }
  }
  if (!problems.length) return null
  return { id, status, detail: `${who}: ${problems.join('; ')}`, fix: fixes.join('; ') }
}

/** GET <publicUrl>/.well-known/atproto-did with `Host: <handle>`: how a dev handle resolves against this server. */
function wellKnownVia(publicUrl: string, handle: string, timeoutMs: number): Promise<string | undefined> {
  const u = new URL('/.well-known/atproto-did', publicUrl)
  const mod = u.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = mod.get(u, { headers: { host: handle }, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body = (body + c).slice(0, 2048)))
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() || undefined : undefined))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('no answer in time')))
    req.on('error', reject)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Relays

async function checkRelays(cfg: Config, local: Local | { error: string }, doFetch: typeof fetch, timeoutMs: number): Promise<CheckResult[]> {
  if (!cfg.federation.enabled) {
    return [
      {
        id: 'federation',
        status: 'warn',
        detail: 'federation is off (PDS_FEDERATION_ENABLED=false): no relay is asked to crawl this server, relays not consulted',
        fix: 'once the checks above pass, set PDS_FEDERATION_ENABLED=true and restart',
      },
    ]
  }
  const hostname = new URL(cfg.publicUrl).hostname
  const accounts = 'error' in local ? [] : local.accounts.filter((a) => a.active).slice(0, 50)
  const revs = Object.fromEntries(accounts.map((a) => [a.did, a.rev]))
  const latestSeq = 'error' in local ? null : local.latestSeq
  const out: CheckResult[] = []
  if (!cfg.federation.autoStream) {
    out.push({
      id: 'federation',
      status: 'warn',
      detail: 'PDS_FEDERATION_AUTO_STREAM=false: relays are asked to crawl on startup only, not after writes',
      fix: 'set PDS_FEDERATION_AUTO_STREAM=true so a relay that dropped this server is asked again',
    })
  }
  for (const url of cfg.federation.relayUrls) {
    const view = await relayView(url, hostname, accounts.map((a) => a.did), {
      fetch: doFetch,
      timeoutMs,
      local: { seq: latestSeq, revs },
    })
    out.push(relayResult(cfg, hostname, view))
  }
  return out
}

function relayResult(cfg: Config, hostname: string, v: RelayView): CheckResult {
  const id = `relay:${v.url}`
  const base = { id, data: v }
  const localNote = cfg.devMode && isLocalOrIp(hostname) ? ` (dev: relays refuse ${hostname})` : ''
  if (!v.reachable) {
    return {
      ...base,
      status: 'fail',
      detail: `relay ${v.url} is unreachable: ${v.error}`,
      fix: 'check the URL in PDS_FEDERATION_RELAY_URLS and that this machine can reach it',
    }
  }
  const repos = summarizeRepos(v)
  const h = v.host
  if (!h.supported) {
    return {
      ...base,
      status: 'warn',
      detail: `relay ${v.url} answers but does not expose getHostStatus: cannot tell whether it follows ${hostname}${repos}`,
    }
  }
  if (h.error) {
    return { ...base, status: 'warn', detail: `relay ${v.url}: getHostStatus failed: ${h.error}${repos}` }
  }
  if (h.found === false) {
    return {
      ...base,
      status: cfg.devMode ? 'warn' : 'fail',
      detail: `relay ${v.url} does not know ${hostname}${localNote}${repos}`,
      fix:
        'the PDS asks every relay on startup and after writes when PDS_FEDERATION_ENABLED=true: restart it and ' +
        'look for "requestCrawl" in its log; relays only accept https hostnames on port 443 whose firehose upgrades',
    }
  }
  const behind =
    v.behindEvents === undefined
      ? ''
      : v.behindEvents <= 0
        ? `, caught up at seq ${h.seq}`
        : `, ${v.behindEvents} events behind (relay at seq ${h.seq})`
  const counted = h.accountCount === undefined ? '' : `, ${h.accountCount} account${h.accountCount === 1 ? '' : 's'}`
  const detail = `relay ${v.url} knows ${hostname}: status ${h.status ?? 'unknown'}${counted}${behind}${repos}`
  if (h.status === 'banned') {
    return { ...base, status: 'fail', detail, fix: `contact the operator of ${v.url}: this host is banned there` }
  }
  if (h.status === 'offline' || h.status === 'idle' || h.status === 'throttled') {
    return {
      ...base,
      status: 'warn',
      detail,
      fix:
        h.status === 'throttled'
          ? 'the relay limits this host (often after broken commit chains): check the firehose and PDS logs'
          : 'the relay is not connected to the firehose now: restart the PDS (it asks on startup) or wait for its next requestCrawl, and check the firehose check above',
    }
  }
  return { ...base, status: 'pass', detail }
}

function summarizeRepos(v: RelayView): string {
  if (!v.repos.length) return ''
  const supported = v.repos.filter((r) => r.supported)
  if (!supported.length) return '; it does not expose per-repo status'
  const unknown = supported.filter((r) => r.found === false).length
  const stale = supported.filter((r) => r.inSync === false).length
  const inSync = supported.filter((r) => r.inSync === true).length
  return `; repos: ${inSync}/${v.repos.length} at our latest rev${stale ? `, ${stale} behind` : ''}${unknown ? `, ${unknown} unknown to it` : ''}`
}

// ---------------------------------------------------------------------------------------------------------------

const trimSlash = (u: string) => u.replace(/\/+$/, '')

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)
    }),
  ])
}
