// The one place that reads the environment. Everything else receives the frozen `Config` built here.
import { isIP } from 'node:net'
import path from 'node:path'
import proxyaddr from 'proxy-addr'
import { isValidDid } from '@atproto/syntax'
import { z } from 'zod'
import type { S3Settings } from '../blob/s3-backend.ts'
import { isP256PrivateKeyHex, loadLocalSecrets, type Secrets } from './secrets.ts'

export type Config = Readonly<{
  port: number
  /**
   * The address the HTTP server listens on; undefined: every interface. Dev mode defaults to 127.0.0.1: it resolves
   * identities over plain http without an SSRF guard and serves an open PLC directory, fine on a laptop only.
   */
  bindHost: string | undefined
  hostname: string
  publicUrl: string
  /** did:web of this service: the `aud` of its tokens and the `did` of describeServer. */
  serviceDid: string
  dataDirectory: string
  dbPath: string
  /** Where DIDs are registered. With `embeddedPlc` it is `<publicUrl>/plc`, served by this process. */
  didPlcUrl: string
  embeddedPlc: boolean
  serviceHandleDomains: string[]
  inviteRequired: boolean
  /** Shown to clients by describeServer; omitted there when unset. */
  links: Readonly<{ privacyPolicy?: string; termsOfService?: string }>
  contactEmail?: string
  /**
   * Outgoing mail (email confirmation, password reset, account deletion tokens); null: no SMTP, each mail's token is
   * written to the log at info instead (src/mailer).
   */
  email: Readonly<{ smtpUrl: string; fromAddress: string }> | null
  devMode: boolean
  /**
   * Dev mode only: an http(s) origin asked for every external handle's `/.well-known/atproto-did`, with the handle as
   * the Host header, instead of `https://<handle>` (a local reverse proxy or test server standing in for the handle's
   * web site). Undefined: handles are verified over DNS and https as on the internet.
   */
  devWellKnownOrigin?: string
  logLevel: string
  maxRequestBytes: number
  blobUploadLimit: number
  /** com.atproto.repo.importRepo: accounts moving here bring their repo as a CAR (src/repo/repo-import.ts). */
  repoImport: Readonly<{
    /** false: importRepo answers 'Service is not accepting repo imports' (the reference's PDS_ACCEPTING_REPO_IMPORTS). */
    accepting: boolean
    /** Largest CAR body, in bytes after any Content-Encoding is undone; larger → 413 PayloadTooLarge. */
    maxBytes: number
  }>
  secrets: Secrets
  federation: Readonly<{
    enabled: boolean
    relayUrls: string[]
    firehoseEnabled: boolean
    crawlEnabled: boolean
    autoStream: boolean
    /** After writes, each relay gets at most one requestCrawl per this many ms (leading and trailing). */
    requestCrawlIntervalMs: number
  }>
  firehose: Readonly<{
    /** How many events a live subscriber may fall behind before it is cut off with ConsumerTooSlow. */
    maxBuffer: number
    /** Events older than this are pruned from the log; older cursors get #info OutdatedCursor. */
    retentionHours: number
    /** Per subscriber: bytes of frames handed to its socket and not yet written out (memory ≈ this + one frame). */
    socketBufferBytes: number
    /** A subscriber with frames queued whose socket writes nothing out for this long is cut off (ConsumerTooSlow). */
    stallTimeoutMs: number
    /** Open subscribeRepos sockets, in all and per client IP; over either → the upgrade is refused. 0 = no cap. */
    maxConnections: number
    maxConnectionsPerIp: number
  }>
  /** Where blob bytes live: null → the data directory's disk (<data>/blobs); else an S3-compatible bucket. */
  blobstoreS3: S3Settings | null
  /** getRepo / getCheckout CAR exports. */
  repoExport: Readonly<{
    /** Exports streaming at once; over it → 503 NotEnoughResources. 0 = no cap. */
    maxConcurrent: number
    /** An export whose client reads nothing for this long is cut off. */
    idleTimeoutMs: number
  }>
  /**
   * Scheduled online backups (src/backup): null unless PDS_BACKUP_DIRECTORY is set. Every `intervalHours` a backup
   * goes into `directory` (an absolute path); the newest `keep` stay, older ones are deleted.
   */
  backup: Readonly<{ directory: string; intervalHours: number; keep: number }> | null
  rateLimits: Readonly<{
    /** Master switch: false turns every limit below off (tests, benchmarks). */
    enabled: boolean
    /** Per client IP, per minute; 0 turns a limit off. */
    syncPerMinute: number
    firehoseConnectsPerMinute: number
    /** The named XRPC limits (src/api/limits.ts says who counts against which): each a list of windows. */
    limits: Readonly<Record<LimitName, readonly RateWindow[]>>
  }>
  /** Which peers may tell us the client's address in X-Forwarded-For (express's `trust proxy` semantics). */
  trustProxy: TrustProxy
  /** Forwarding the XRPC methods this server does not serve (src/proxy). */
  proxy: Readonly<{
    /** Where methods go without an atproto-proxy header; unset: such calls get InvalidRequest naming the variables. */
    services: Readonly<{
      /** app.bsky.* (and the atproto-proxy special case `<its did>#bsky_appview`). */
      appView?: ProxyService
      /** chat.bsky.* */
      chat?: ProxyService
      /** com.atproto.moderation.createReport */
      modService?: ProxyService
    }>
    /** ms an upstream may stay silent, and may take to answer once the request is sent; then 504 UpstreamTimeout. */
    timeoutMs: number
    /** Largest request body forwarded (streamed, never buffered); larger → 413 PayloadTooLarge. */
    maxRequestBytes: number
    /** Endpoints from DID documents must be https and connect only to public addresses (src/proxy/ssrf.ts). */
    ssrfGuard: boolean
    /**
     * The AppView's image CDN, `%s` for preset, DID and CID in that order: where read-after-write points the images
     * of posts and profiles the AppView has not seen yet. Undefined: this PDS's own getBlob.
     */
    appViewCdnUrlPattern?: string
  }>
  /** GET /metrics, Prometheus text format (src/metrics). */
  metrics: Readonly<{
    enabled: boolean
    /** When set, a scrape must send `Authorization: Bearer <token>`; undefined: open to whoever reaches the port. */
    token?: string
  }>
}>

/** A service requests are forwarded to: its origin, and its DID (the `aud` of the service JWTs it receives). */
export type ProxyService = Readonly<{ url: string; did: string }>

/**
 * The named rate limits. Per client IP (IPv6 per /64): global (all XRPC but the sync reads), login (per identifier and
 * IP), loginIp, createAccount, adminAuthFailure (wrong admin passwords), passwordResetRequest, passwordReset,
 * accountDelete. Per account: repoWrite (points: create 3, update 2, delete 1), blobUpload, emailRequest, handleUpdate,
 * identityLookup.
 */
export type LimitName =
  | 'global'
  | 'login'
  | 'loginIp'
  | 'createAccount'
  | 'repoWrite'
  | 'blobUpload'
  | 'adminAuthFailure'
  | 'passwordResetRequest'
  | 'passwordReset'
  | 'emailRequest'
  | 'accountDelete'
  | 'handleUpdate'
  | 'identityLookup'

/** A budget of `points` per fixed window of `seconds`, per key. */
export type RateWindow = Readonly<{ points: number; seconds: number }>

/** false: nobody; true: everybody; n: the n nearest hops; list: addresses, CIDRs, `loopback`/`linklocal`/`uniquelocal`. */
export type TrustProxy = boolean | number | readonly string[]

export class ConfigError extends Error {}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes')

/** A link shown to people (describeServer's links): kept exactly as written. */
const linkUrl = z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' })
const url = z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''))

/** Why `entry` is not a bare http(s) origin (no credentials, path or query), or undefined with its origin. */
function parseOrigin(entry: string): { origin: string; problem?: undefined } | { origin?: undefined; problem: string } {
  let u: URL | undefined
  try {
    u = new URL(entry)
  } catch {}
  const problem = !u
    ? 'is not a URL'
    : !/^https?:$/.test(u.protocol)
      ? 'is not an http(s) URL'
      : u.username || u.password
        ? 'must not carry credentials'
        : (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash
          ? `has a path or query ("${u.pathname}${u.search}${u.hash}"); give the origin only`
          : undefined
  return problem || !u ? { problem: problem ?? 'is not a URL' } : { origin: u.origin }
}

// Relays are addressed by origin: we append /xrpc/... ourselves, so a path would be silently dropped.
const relayUrlList = z.string().transform((s, ctx) => {
  const origins: string[] = []
  for (const entry of s.split(',').map((u) => u.trim()).filter(Boolean)) {
    const { origin, problem } = parseOrigin(entry)
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: `"${entry}" ${problem}: expected a relay URL such as https://bsky.network` })
      return z.NEVER
    }
    origins.push(origin)
  }
  return origins
})

// The dev well-known stand-in: we ask it for /.well-known/atproto-did, so it is an origin like a relay's.
const origin = z.string().transform((s, ctx) => {
  const { origin, problem } = parseOrigin(s.trim())
  if (problem === undefined) return origin
  ctx.addIssue({ code: 'custom', message: `"${s}" ${problem}: expected an origin such as http://127.0.0.1:8080` })
  return z.NEVER
})
// Proxied services too: requests go to <origin>/xrpc/<method>.
const serviceOrigin = z.string().transform((s, ctx) => {
  const { origin, problem } = parseOrigin(s.trim())
  if (problem === undefined) return origin
  ctx.addIssue({ code: 'custom', message: `"${s}" ${problem}: expected a service URL such as https://api.bsky.app` })
  return z.NEVER
})
const serviceDid = z.string().refine((s) => isValidDid(s), 'expected a DID such as did:web:api.bsky.app')

// Validated with proxy-addr, the library that applies the rule, so whatever passes here is what it will trust.
const trustProxy = z.string().transform((s, ctx): TrustProxy => {
  const v = s.trim().toLowerCase()
  if (v === 'false' || v === '0') return false
  if (v === 'true') return true
  if (/^\d+$/.test(v)) return Number(v)
  const list = v.split(',').map((x) => x.trim()).filter(Boolean)
  for (const entry of list) {
    try {
      proxyaddr.compile(entry)
    } catch {
      ctx.addIssue({
        code: 'custom',
        message:
          `"${entry}" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal ` +
          '(or use true, false, or a hop count)',
      })
      return z.NEVER
    }
  }
  return Object.freeze(list)
})

const perMinute = z.coerce.number({ message: 'expected a number per minute (0 = no limit)' }).int().min(0)
const points = z.coerce.number({ message: 'expected a whole number (0 = no limit)' }).int().min(0)

const MINUTE = 60
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const windowSuffix = { PER_5_MINUTES: 5 * MINUTE, PER_HOUR: HOUR, PER_DAY: DAY } as const

/**
 * Every named limit's windows: `PDS_RATE_LIMIT_<NAME>_<WINDOW>` with its default. Defaults are the reference PDS's
 * numbers where it has the limit (see the README's configuration table for the rest).
 */
const LIMIT_WINDOWS: Record<LimitName, { env: string; defaults: Partial<Record<keyof typeof windowSuffix, number>> }> = {
  global: { env: 'GLOBAL', defaults: { PER_5_MINUTES: 3000 } },
  login: { env: 'LOGIN', defaults: { PER_5_MINUTES: 30, PER_DAY: 300 } },
  // Ten identifiers' worth: a NAT full of people logging in passes, a password sprayer on one address does not.
  loginIp: { env: 'LOGIN_IP', defaults: { PER_5_MINUTES: 300, PER_DAY: 3000 } },
  createAccount: { env: 'CREATE_ACCOUNT', defaults: { PER_5_MINUTES: 100 } },
  repoWrite: { env: 'REPO_WRITE_POINTS', defaults: { PER_HOUR: 5000, PER_DAY: 35000 } },
  blobUpload: { env: 'BLOB_UPLOADS', defaults: { PER_DAY: 1000 } },
  // Not in the reference: an operator mistyping does not get near these; a guesser is slowed to a crawl.
  adminAuthFailure: { env: 'ADMIN_AUTH_FAILURES', defaults: { PER_5_MINUTES: 10, PER_DAY: 100 } },
  // The self-service methods that mail a token, and those that spend one without a login (src/api/routes.ts).
  passwordResetRequest: { env: 'PASSWORD_RESET_REQUESTS', defaults: { PER_HOUR: 15, PER_DAY: 50 } },
  passwordReset: { env: 'PASSWORD_RESETS', defaults: { PER_5_MINUTES: 50 } },
  emailRequest: { env: 'EMAIL_REQUESTS', defaults: { PER_HOUR: 5, PER_DAY: 15 } },
  accountDelete: { env: 'ACCOUNT_DELETES', defaults: { PER_5_MINUTES: 50 } },
  // updateHandle: each change is a PLC operation and an #identity event every relay and AppView processes.
  handleUpdate: { env: 'HANDLE_UPDATES', defaults: { PER_5_MINUTES: 10, PER_DAY: 50 } },
  // Not in the reference (its AppView answers these): resolveDid, resolveIdentity and refreshIdentity fetch from the
  // PLC directory or a did:web host for the caller, and a directory that throttles us throttles every user.
  identityLookup: { env: 'IDENTITY_LOOKUPS', defaults: { PER_5_MINUTES: 100, PER_DAY: 1000 } },
}

const limitEnv = Object.fromEntries(
  Object.values(LIMIT_WINDOWS).flatMap(({ env, defaults }) =>
    Object.entries(defaults).map(([suffix, dflt]) => [`PDS_RATE_LIMIT_${env}_${suffix}`, points.default(dflt)]),
  ),
)

/** The windows of each named limit from the parsed environment; 0 drops a window, no windows means no limit. */
function limitWindows(e: Record<string, unknown>): Record<LimitName, readonly RateWindow[]> {
  const out = {} as Record<LimitName, readonly RateWindow[]>
  for (const [name, { env, defaults }] of Object.entries(LIMIT_WINDOWS) as [LimitName, (typeof LIMIT_WINDOWS)[LimitName]][]) {
    const windows = Object.keys(defaults).map((suffix) => ({
      points: e[`PDS_RATE_LIMIT_${env}_${suffix}`] as number,
      seconds: windowSuffix[suffix as keyof typeof windowSuffix],
    }))
    out[name] = Object.freeze(windows.filter((w) => w.points > 0).map((w) => Object.freeze(w)))
  }
  return out
}

const cap = z.coerce.number({ message: 'expected a whole number (0 = no cap)' }).int().min(0)
const seconds = z.coerce.number({ message: 'expected a number of seconds' }).positive()

/**
 * An SMTP server as a URL: smtp:// (plain, upgraded with STARTTLS when the server offers it) or smtps:// (TLS from
 * the first byte), credentials percent-encoded in it, nodemailer's options (e.g. ?requireTLS=true) as its query.
 */
const smtpUrl = z.url({
  protocol: /^smtps?$/,
  message: 'expected an smtp:// or smtps:// URL, e.g. smtps://user:password@smtp.example.com',
})

// What a From header may hold: an address, or a display name and an address in angle brackets.
const fromAddress = z.string().refine((s) => z.email().safeParse(/<([^<>]+)>\s*$/.exec(s)?.[1] ?? s.trim()).success, {
  message: 'expected an email address, optionally as "Name <address>"',
})

const hexKey = z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters (a secp256k1 private key)')
const p256Key = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters (a P-256 private key)')
  .refine(isP256PrivateKeyHex, 'not a valid P-256 private key (zero, or not below the curve order)')
const hexSecret = z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex characters (openssl rand -hex 32)')

/**
 * The services unserved methods are forwarded to: `<env>_URL` and `<env>_DID`, both or neither. Defaults off
 * localhost are Bluesky's public services, as the reference's installer sets them.
 */
const PROXY_SERVICES = {
  appView: { env: 'PDS_BSKY_APP_VIEW', production: { url: 'https://api.bsky.app', did: 'did:web:api.bsky.app' } },
  chat: { env: 'PDS_CHAT', production: { url: 'https://api.bsky.chat', did: 'did:web:api.bsky.chat' } },
  modService: { env: 'PDS_MOD_SERVICE', production: { url: 'https://mod.bsky.app', did: 'did:plc:ar7c4by46qjdydhdevvrndac' } },
} as const satisfies Record<string, { env: string; production: ProxyService }>

/** Each proxied service from the parsed environment: both variables, or the production default, or none. */
function proxyServices(e: Record<string, unknown>, local: boolean): Config['proxy']['services'] {
  const out: Record<string, ProxyService> = {}
  for (const [name, { env, production }] of Object.entries(PROXY_SERVICES)) {
    const url = e[`${env}_URL`] as string | undefined
    const did = e[`${env}_DID`] as string | undefined
    if (url && !did) throw new ConfigError(`${env}_DID: required when ${env}_URL is set`)
    if (did && !url) throw new ConfigError(`${env}_URL: required when ${env}_DID is set`)
    const service = url && did ? { url, did } : local ? undefined : production
    if (service) out[name] = Object.freeze({ ...service })
  }
  return Object.freeze(out)
}

/** The shortest admin password production accepts (`openssl rand -hex 16` gives 32 characters). */
export const MIN_ADMIN_PASSWORD_LENGTH = 16

const envSchema = z.object({
  PDS_PORT: z.coerce.number({ message: 'expected a port number' }).int().min(0).max(65535).default(3000),
  PDS_BIND_HOST: z
    .string()
    .refine((h) => isIP(h) !== 0, 'expected an IP address to listen on, such as 127.0.0.1, 0.0.0.0 or ::')
    .optional(),
  PDS_HOSTNAME: z
    .string()
    .regex(/^[a-z0-9.-]+$/i, 'expected a bare hostname such as pds.example.com')
    .transform((h) => h.toLowerCase())
    .default('localhost'),
  PDS_PUBLIC_URL: url.optional(),
  PDS_DATA_DIRECTORY: z.string().min(1).default('./data'),
  PDS_DID_PLC_URL: url.optional(),
  PDS_SERVICE_HANDLE_DOMAINS: z
    .string()
    .transform((s) => s.split(',').map((d) => d.trim().toLowerCase()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^\.[a-z0-9.-]+$/, 'each domain must start with a dot, e.g. .example.com')).min(1))
    .optional(),
  PDS_JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  PDS_ADMIN_PASSWORD: z.string().min(1).optional(),
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: hexKey.optional(),
  PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX: p256Key.optional(),
  PDS_OAUTH_DPOP_SECRET: hexSecret.optional(),
  PDS_INVITE_REQUIRED: bool.default(false),
  PDS_PRIVACY_POLICY_URL: linkUrl.optional(),
  PDS_TERMS_OF_SERVICE_URL: linkUrl.optional(),
  PDS_CONTACT_EMAIL_ADDRESS: z.email({ message: 'expected an email address' }).optional(),
  PDS_EMAIL_SMTP_URL: smtpUrl.optional(),
  PDS_EMAIL_FROM_ADDRESS: fromAddress.optional(),
  PDS_DEV_MODE: bool.optional(),
  PDS_DEV_WELL_KNOWN_ORIGIN: origin.optional(),
  PDS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // The reference's JSON limit. Parsing, validating and encoding a record runs on the event loop, 1-3 ms per KiB for
  // the worst shapes (many tiny values), so this also bounds how long one write can hold the server.
  PDS_MAX_REQUEST_BYTES: z.coerce.number().int().positive().default(150 * 1024),
  PDS_BLOB_UPLOAD_LIMIT: z.coerce.number().int().positive().default(50 * 1024 * 1024),
  // The reference's names. Its size default is its blob limit (5 MB), too small for an account with years of posts;
  // the CAR streams to disk, so the cap bounds disk use and time, not memory.
  // The reference's names, so an operator's S3 settings carry over.
  PDS_BLOBSTORE_S3_BUCKET: z.string().min(3).optional(),
  PDS_BLOBSTORE_S3_ENDPOINT: url.optional(),
  PDS_BLOBSTORE_S3_REGION: z.string().min(1).default('us-east-1'),
  PDS_BLOBSTORE_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  PDS_BLOBSTORE_S3_FORCE_PATH_STYLE: bool.default(false),
  PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS: z.coerce.number({ message: 'expected a number of ms' }).int().positive().default(20000),
  PDS_ACCEPTING_REPO_IMPORTS: bool.default(true),
  PDS_MAX_REPO_IMPORT_SIZE: z.coerce.number({ message: 'expected a number of bytes' }).int().positive().default(1024 ** 3),
  PDS_FEDERATION_ENABLED: bool.default(false),
  PDS_FEDERATION_RELAY_URLS: relayUrlList.optional(),
  PDS_CRAWLERS: relayUrlList.optional(),
  PDS_FEDERATION_FIREHOSE_ENABLED: bool.default(true),
  PDS_FEDERATION_CRAWL_ENABLED: bool.default(true),
  PDS_FEDERATION_AUTO_STREAM: bool.optional(),
  PDS_FEDERATION_REQUEST_CRAWL_INTERVAL_SECONDS: z.coerce
    .number({ message: 'expected a number of seconds' })
    .positive()
    .default(300),
  PDS_FIREHOSE_MAX_BUFFER: z.coerce.number({ message: 'expected a number of events' }).int().positive().default(5000),
  PDS_FIREHOSE_RETENTION_HOURS: z.coerce.number({ message: 'expected a number of hours' }).positive().default(72),
  // Generous: a relay backfilling thousands of repos, or a CDN fetching blobs, stays well under these.
  PDS_RATE_LIMIT_SYNC_PER_MINUTE: perMinute.default(3000),
  PDS_RATE_LIMIT_FIREHOSE_CONNECTS_PER_MINUTE: perMinute.default(30),
  // Off in dev mode: a developer's app and test suite on this machine should not meet login or write limits.
  PDS_RATE_LIMITS_ENABLED: bool.optional(),
  ...limitEnv,
  PDS_TRUST_PROXY: trustProxy.default(false),
  // What one client can hold on to: firehose sockets and their buffers, repo exports. A stalled peer is cut off.
  PDS_FIREHOSE_SOCKET_BUFFER_BYTES: z.coerce
    .number({ message: 'expected a number of bytes' })
    .int()
    .min(64 * 1024, 'must be at least 65536')
    .default(1024 * 1024),
  PDS_FIREHOSE_STALL_TIMEOUT_SECONDS: seconds.default(60),
  PDS_FIREHOSE_MAX_CONNECTIONS: cap.default(256),
  PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP: cap.default(16),
  PDS_REPO_EXPORT_MAX_CONCURRENT: cap.default(16),
  PDS_REPO_EXPORT_IDLE_TIMEOUT_SECONDS: seconds.default(60),
  PDS_BACKUP_DIRECTORY: z.string().min(1).optional(),
  PDS_BACKUP_INTERVAL_HOURS: z.coerce
    .number({ message: 'expected a number of hours' })
    .positive()
    .max(576, 'at most 576 (24 days, the longest timer Node keeps)')
    .default(24),
  PDS_BACKUP_KEEP: z.coerce.number({ message: 'expected a number of backups' }).int().min(1, 'keep at least 1').default(7),
  // PROXY_SERVICES: each both or neither.
  PDS_BSKY_APP_VIEW_URL: serviceOrigin.optional(),
  PDS_BSKY_APP_VIEW_DID: serviceDid.optional(),
  PDS_CHAT_URL: serviceOrigin.optional(),
  PDS_CHAT_DID: serviceDid.optional(),
  PDS_MOD_SERVICE_URL: serviceOrigin.optional(),
  PDS_MOD_SERVICE_DID: serviceDid.optional(),
  PDS_PROXY_TIMEOUT_SECONDS: seconds.default(10),
  PDS_PROXY_MAX_REQUEST_BYTES: z.coerce.number({ message: 'expected a number of bytes' }).int().positive().default(1024 * 1024),
  PDS_PROXY_SSRF_GUARD: bool.optional(),
  PDS_BSKY_APP_VIEW_CDN_URL_PATTERN: z
    .string()
    .refine((p) => /^https?:\/\//.test(p) && p.split('%s').length === 4, 'expected an http(s) URL with three %s (preset, DID, CID)')
    .optional(),
  PDS_METRICS_ENABLED: bool.default(false),
  PDS_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (openssl rand -hex 16)').optional(),
})

/** Every environment variable the config reads: the README's table and `.env.example` must name each. */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(envSchema.shape))

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * Why the public URL cannot be the OAuth issuer (src/oauth/provider.ts), or undefined. The provider's rule (RFC 8414
 * as atproto profiles it): https on a real hostname, or plain http on a loopback host for development; never https
 * on a loopback host.
 */
function oauthIssuerProblem(publicUrl: string): string | undefined {
  const u = new URL(publicUrl)
  const loopback = LOOPBACK_HOSTS.has(u.hostname)
  if (u.protocol === 'http:' && !loopback) {
    return 'cannot be the OAuth issuer: plain http only works on localhost or 127.0.0.1; use https://<hostname>'
  }
  if (u.protocol === 'https:' && loopback) {
    return 'cannot be the OAuth issuer: use http:// for localhost, or https with a real hostname'
  }
  return undefined
}

/** Parse `env` (normally `process.env`) into the config. Throws ConfigError naming the first bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // Empty strings count as unset, as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = envSchema.safeParse(cleaned)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ConfigError(`${String(issue.path[0])}: ${issue.message}`)
  }
  const e = parsed.data
  const local = e.PDS_HOSTNAME === 'localhost'
  const publicUrl = e.PDS_PUBLIC_URL ?? (local ? `http://localhost:${e.PDS_PORT}` : `https://${e.PDS_HOSTNAME}`)
  const issuerProblem = oauthIssuerProblem(publicUrl)
  if (issuerProblem) throw new ConfigError(`PDS_PUBLIC_URL: ${publicUrl} ${issuerProblem}`)
  const embeddedPlc = local && !e.PDS_DID_PLC_URL
  const dataDirectory = path.resolve(e.PDS_DATA_DIRECTORY)
  const federationEnabled = e.PDS_FEDERATION_ENABLED
  if (!e.PDS_BLOBSTORE_S3_ACCESS_KEY_ID !== !e.PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY) {
    throw new ConfigError('PDS_BLOBSTORE_S3_ACCESS_KEY_ID and PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: set both or neither')
  }
  const devMode = e.PDS_DEV_MODE ?? local

  // The admin password takes down and deletes every account: on a public server it must not be guessable.
  if (!local && e.PDS_ADMIN_PASSWORD !== undefined && e.PDS_ADMIN_PASSWORD.length < MIN_ADMIN_PASSWORD_LENGTH) {
    throw new ConfigError(
      `PDS_ADMIN_PASSWORD: must be at least ${MIN_ADMIN_PASSWORD_LENGTH} characters when PDS_HOSTNAME is not localhost ` +
        '(generate one with: openssl rand -hex 16)',
    )
  }

  // Both or neither, as the reference requires: a half-configured mailer is a typo, not a choice.
  if (!e.PDS_EMAIL_SMTP_URL !== !e.PDS_EMAIL_FROM_ADDRESS) {
    throw new ConfigError(
      e.PDS_EMAIL_SMTP_URL
        ? 'PDS_EMAIL_FROM_ADDRESS: required when PDS_EMAIL_SMTP_URL is set (the address mail is sent from)'
        : 'PDS_EMAIL_SMTP_URL: required when PDS_EMAIL_FROM_ADDRESS is set (unset both to write tokens to the log)',
    )
  }

  const given = {
    jwtSecret: e.PDS_JWT_SECRET,
    adminPassword: e.PDS_ADMIN_PASSWORD,
    plcRotationKeyHex: e.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX?.toLowerCase(),
    oauthSigningKeyHex: e.PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX?.toLowerCase(),
    dpopSecret: e.PDS_OAUTH_DPOP_SECRET?.toLowerCase(),
  }
  let secrets: Secrets
  if (given.jwtSecret && given.adminPassword && given.plcRotationKeyHex && given.oauthSigningKeyHex && given.dpopSecret) {
    secrets = given as Secrets
  } else if (local) {
    // Dev convenience: generated once, kept in the data directory (0600), explicit variables still win.
    const stored = loadLocalSecrets(dataDirectory)
    secrets = {
      jwtSecret: given.jwtSecret ?? stored.jwtSecret,
      adminPassword: given.adminPassword ?? stored.adminPassword,
      plcRotationKeyHex: given.plcRotationKeyHex ?? stored.plcRotationKeyHex,
      oauthSigningKeyHex: given.oauthSigningKeyHex ?? stored.oauthSigningKeyHex,
      dpopSecret: given.dpopSecret ?? stored.dpopSecret,
    }
  } else {
    const missing = [
      'PDS_JWT_SECRET',
      'PDS_ADMIN_PASSWORD',
      'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX',
      'PDS_OAUTH_SIGNING_KEY_P256_PRIVATE_KEY_HEX',
      'PDS_OAUTH_DPOP_SECRET',
    ].find((name) => !cleaned[name])
    throw new ConfigError(`${missing}: required when PDS_HOSTNAME is not localhost`)
  }

  // It answers for any handle: outside dev mode that would let whoever runs it vouch for every external handle.
  if (e.PDS_DEV_WELL_KNOWN_ORIGIN && !devMode) {
    throw new ConfigError('PDS_DEV_WELL_KNOWN_ORIGIN: only allowed in dev mode (PDS_DEV_MODE=true)')
  }

  return Object.freeze({
    port: e.PDS_PORT,
    bindHost: e.PDS_BIND_HOST ?? (local || devMode ? '127.0.0.1' : undefined),
    hostname: e.PDS_HOSTNAME,
    publicUrl,
    serviceDid: `did:web:${local ? `localhost%3A${e.PDS_PORT}` : e.PDS_HOSTNAME}`,
    dataDirectory,
    dbPath: path.join(dataDirectory, 'pds.sqlite'),
    didPlcUrl: e.PDS_DID_PLC_URL ?? (local ? `${publicUrl}/plc` : 'https://plc.directory'),
    embeddedPlc,
    serviceHandleDomains: e.PDS_SERVICE_HANDLE_DOMAINS ?? (local ? ['.test'] : [`.${e.PDS_HOSTNAME}`]),
    inviteRequired: e.PDS_INVITE_REQUIRED,
    links: Object.freeze({ privacyPolicy: e.PDS_PRIVACY_POLICY_URL, termsOfService: e.PDS_TERMS_OF_SERVICE_URL }),
    contactEmail: e.PDS_CONTACT_EMAIL_ADDRESS,
    email:
      e.PDS_EMAIL_SMTP_URL && e.PDS_EMAIL_FROM_ADDRESS
        ? Object.freeze({ smtpUrl: e.PDS_EMAIL_SMTP_URL, fromAddress: e.PDS_EMAIL_FROM_ADDRESS.trim() })
        : null,
    devMode,
    devWellKnownOrigin: e.PDS_DEV_WELL_KNOWN_ORIGIN,
    logLevel: e.PDS_LOG_LEVEL,
    maxRequestBytes: e.PDS_MAX_REQUEST_BYTES,
    blobUploadLimit: e.PDS_BLOB_UPLOAD_LIMIT,
    repoImport: Object.freeze({ accepting: e.PDS_ACCEPTING_REPO_IMPORTS, maxBytes: e.PDS_MAX_REPO_IMPORT_SIZE }),
    secrets: Object.freeze(secrets),
    federation: Object.freeze({
      enabled: federationEnabled,
      relayUrls: e.PDS_FEDERATION_RELAY_URLS ?? e.PDS_CRAWLERS ?? ['https://bsky.network'],
      firehoseEnabled: e.PDS_FEDERATION_FIREHOSE_ENABLED,
      crawlEnabled: e.PDS_FEDERATION_CRAWL_ENABLED,
      autoStream: e.PDS_FEDERATION_AUTO_STREAM ?? federationEnabled,
      requestCrawlIntervalMs: Math.round(e.PDS_FEDERATION_REQUEST_CRAWL_INTERVAL_SECONDS * 1000),
    }),
    firehose: Object.freeze({
      maxBuffer: e.PDS_FIREHOSE_MAX_BUFFER,
      retentionHours: e.PDS_FIREHOSE_RETENTION_HOURS,
      socketBufferBytes: e.PDS_FIREHOSE_SOCKET_BUFFER_BYTES,
      stallTimeoutMs: Math.round(e.PDS_FIREHOSE_STALL_TIMEOUT_SECONDS * 1000),
      maxConnections: e.PDS_FIREHOSE_MAX_CONNECTIONS,
      maxConnectionsPerIp: e.PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP,
    }),
    blobstoreS3: e.PDS_BLOBSTORE_S3_BUCKET
      ? Object.freeze({
          bucket: e.PDS_BLOBSTORE_S3_BUCKET,
          endpoint: e.PDS_BLOBSTORE_S3_ENDPOINT,
          region: e.PDS_BLOBSTORE_S3_REGION,
          credentials:
            e.PDS_BLOBSTORE_S3_ACCESS_KEY_ID && e.PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY
              ? Object.freeze({
                  accessKeyId: e.PDS_BLOBSTORE_S3_ACCESS_KEY_ID,
                  secretAccessKey: e.PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY,
                })
              : undefined,
          forcePathStyle: e.PDS_BLOBSTORE_S3_FORCE_PATH_STYLE,
          requestTimeoutMs: e.PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS,
        })
      : null,
    repoExport: Object.freeze({
      maxConcurrent: e.PDS_REPO_EXPORT_MAX_CONCURRENT,
      idleTimeoutMs: Math.round(e.PDS_REPO_EXPORT_IDLE_TIMEOUT_SECONDS * 1000),
    }),
    backup: e.PDS_BACKUP_DIRECTORY
      ? Object.freeze({
          directory: path.resolve(e.PDS_BACKUP_DIRECTORY),
          intervalHours: e.PDS_BACKUP_INTERVAL_HOURS,
          keep: e.PDS_BACKUP_KEEP,
        })
      : null,
    rateLimits: Object.freeze({
      enabled: e.PDS_RATE_LIMITS_ENABLED ?? !devMode,
      syncPerMinute: e.PDS_RATE_LIMIT_SYNC_PER_MINUTE,
      firehoseConnectsPerMinute: e.PDS_RATE_LIMIT_FIREHOSE_CONNECTS_PER_MINUTE,
      limits: Object.freeze(limitWindows(e)),
    }),
    trustProxy: e.PDS_TRUST_PROXY,
    proxy: Object.freeze({
      services: proxyServices(e, local),
      timeoutMs: Math.round(e.PDS_PROXY_TIMEOUT_SECONDS * 1000),
      maxRequestBytes: e.PDS_PROXY_MAX_REQUEST_BYTES,
      ssrfGuard: e.PDS_PROXY_SSRF_GUARD ?? !devMode,
      // Bluesky's CDN goes with Bluesky's AppView (the reference installer's pair); another AppView brings its own.
      appViewCdnUrlPattern:
        e.PDS_BSKY_APP_VIEW_CDN_URL_PATTERN ??
        (!local && !e.PDS_BSKY_APP_VIEW_URL ? 'https://cdn.bsky.app/img/%s/plain/%s/%s@jpeg' : undefined),
    }),
    metrics: Object.freeze({ enabled: e.PDS_METRICS_ENABLED, token: e.PDS_METRICS_TOKEN }),
  })
}

/** The process entry point's way in: the only read of `process.env` in the code base. */
export function configFromProcessEnv(): Config {
  return parseConfig(process.env)
}
