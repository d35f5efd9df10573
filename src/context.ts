// Builds every service once. Handlers receive this context; nothing else wires dependencies.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Keypair } from '@atproto/crypto'
import { AccountService } from './account/account-service.ts'
import { AccountStatusService } from './account/account-status.ts'
import { AccountStore } from './account/account-store.ts'
import { AppPasswordService } from './account/app-passwords.ts'
import { InviteService } from './account/invites.ts'
import { PreferenceService } from './account/preferences.ts'
import { SessionService } from './account/sessions.ts'
import { TokenService, type Now } from './account/tokens.ts'
import { BlobIndex } from './blob/blob-index.ts'
import { BlobStore } from './blob/blob-store.ts'
import type { Config } from './config/index.ts'
import type { Db } from './db/index.ts'
import { Firehose } from './firehose/firehose.ts'
import { keypairFromHex } from './identity/keys.ts'
import { PlcService } from './identity/plc.ts'
import { ServiceAuth } from './identity/service-auth.ts'
import { createRateLimiter, type RateLimiter } from './ratelimit/index.ts'
import { createRelayNotifier, type RelayNotifier } from './relay/notifier.ts'
import { IdentityResolver } from './identity/resolver.ts'
import type { Logger } from './logger.ts'
import { ServiceProxy, type ResponseRewriter } from './proxy/service-proxy.ts'
import { RecordIndex } from './repo/record-index.ts'
import { RepoService } from './repo/repo-service.ts'
import { Sequencer } from './sequencer/sequencer.ts'
import { AuthVerifier } from './xrpc/auth.ts'

const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as {
  version: string
}

export type AppContext = {
  cfg: Config
  log: Logger
  version: string
  auth: AuthVerifier
  accounts: AccountService
  accountStatus: AccountStatusService
  sessions: SessionService
  appPasswords: AppPasswordService
  invites: InviteService
  preferences: PreferenceService
  identity: IdentityResolver
  /** Service JWTs signed with an account's repo key (getServiceAuth; proxying). */
  serviceAuth: ServiceAuth
  sequencer: Sequencer
  records: RecordIndex
  blobs: BlobIndex
  blobStore: BlobStore
  repo: RepoService
  firehose: Firehose
  relay: RelayNotifier
  rateLimiter: RateLimiter
  /** Forwards the methods this server does not serve (AppView, chat, moderation, atproto-proxy). */
  proxy: ServiceProxy
}

/**
 * What tests may replace. `now`: the clock of session tokens (epoch ms); `Date.now` unless a test steps time.
 * `rewriter`: the proxy's read-after-write hook.
 */
export type ContextOptions = { now?: Now; rewriter?: ResponseRewriter }

/** `db` is opened and closed by the server, which also hands it to the dev PLC directory; services own its tables. */
export async function createContext(cfg: Config, log: Logger, db: Db, opts: ContextOptions = {}): Promise<AppContext> {
  const tokens = new TokenService(cfg.secrets.jwtSecret, cfg.serviceDid, opts.now)
  const sessions = new SessionService(db, tokens)
  const appPasswords = new AppPasswordService(db)
  const invites = new InviteService(db, cfg.hostname)
  const plc = new PlcService(cfg.didPlcUrl, await keypairFromHex(cfg.secrets.plcRotationKeyHex), cfg.publicUrl)
  const store = new AccountStore(db)
  const sequencer = new Sequencer(db)
  const records = new RecordIndex(db)
  const blobs = new BlobIndex(db)
  const blobStore = new BlobStore(cfg.dataDirectory, blobs, (did) => store.byDid(did) !== undefined, log)
  const identity = new IdentityResolver({ plcUrl: cfg.didPlcUrl, devMode: cfg.devMode })
  const rateLimiter = createRateLimiter(cfg, { log })
  const signingKey = signingKeyCache(store)
  const auth = new AuthVerifier(tokens, sessions, cfg.secrets.adminPassword, rateLimiter.adminFailures)
  const serviceAuth = new ServiceAuth(signingKey)
  const repo = new RepoService({
    db,
    sequencer,
    records,
    blobs,
    signingKey,
    onBlobsUnlinked: (did, cids) => blobStore.deleteOrphans(did, cids),
    exportLimits: { maxConcurrent: cfg.repoExport.maxConcurrent, idleMs: cfg.repoExport.idleTimeoutMs },
  })
  return {
    cfg,
    log,
    version: pkg.version,
    auth,
    accounts: new AccountService({ cfg, store, plc, sessions, invites, appPasswords, repo, sequencer }),
    accountStatus: new AccountStatusService({
      db,
      store,
      sequencer,
      sessions,
      repo,
      blobStore,
      identity,
      plc,
      publicUrl: cfg.publicUrl,
    }),
    sessions,
    appPasswords,
    invites,
    preferences: new PreferenceService(db),
    identity,
    serviceAuth,
    sequencer,
    records,
    blobs,
    blobStore,
    repo,
    firehose: new Firehose({
      sequencer,
      // The per-IP socket cap counts as the rate limits do: an IPv6 client per /64.
      clientIp: (req) => rateLimiter.ipKey(req),
      logger: log,
      enabled: cfg.federation.firehoseEnabled,
      maxBuffer: cfg.firehose.maxBuffer,
      retentionHours: cfg.firehose.retentionHours,
      caps: { max: cfg.firehose.maxConnections, perIp: cfg.firehose.maxConnectionsPerIp },
      tuning: { windowBytes: cfg.firehose.socketBufferBytes, stallMs: cfg.firehose.stallTimeoutMs },
    }),
    relay: createRelayNotifier({ cfg, sequencer, log, userAgent: `aurora-locus/${pkg.version}` }),
    rateLimiter,
    proxy: new ServiceProxy({ cfg: cfg.proxy, identity, serviceAuth, auth, log, rewriter: opts.rewriter }),
  }
}

/** Each account's repo signing key, imported once. */
function signingKeyCache(store: AccountStore): (did: string) => Promise<Keypair> {
  const keys = new Map<string, Promise<Keypair>>()
  return (did) => {
    let key = keys.get(did)
    if (!key) {
      const account = store.byDid(did)
      if (!account) return Promise.reject(new Error(`no signing key for ${did}`))
      key = keypairFromHex(account.signing_key_hex)
      keys.set(did, key)
    }
    return key
  }
}
