// Builds every service once. Handlers receive this context; nothing else wires dependencies.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Keypair } from '@atproto/crypto'
import { AccountAdminService } from './account/account-admin.ts'
import { AccountService } from './account/account-service.ts'
import { AccountStatusService } from './account/account-status.ts'
import { AccountStore } from './account/account-store.ts'
import { AppPasswordService } from './account/app-passwords.ts'
import { EmailTokenService } from './account/email-tokens.ts'
import { HandleClaims } from './account/handle-claims.ts'
import { serviceHandleDid } from './account/handle-lookup.ts'
import { HandleService } from './account/handle-service.ts'
import { InviteService } from './account/invites.ts'
import { PlcOperationService } from './account/plc-operations.ts'
import { PreferenceService } from './account/preferences.ts'
import { SelfService } from './account/self-service.ts'
import { SessionService } from './account/sessions.ts'
import { TokenService, type Now } from './account/tokens.ts'
import { BlobIndex } from './blob/blob-index.ts'
import { blobBackend } from './blob/backend-for-config.ts'
import { BlobStore } from './blob/blob-store.ts'
import type { Config } from './config/index.ts'
import type { Db } from './db/index.ts'
import { Firehose } from './firehose/firehose.ts'
import { IdentityInfoService } from './identity/identity-info.ts'
import { keypairFromHex, keypairFromHexOnFirstUse } from './identity/keys.ts'
import { PlcService } from './identity/plc.ts'
import { ServiceAuth } from './identity/service-auth.ts'
import { ServiceJwtVerifier } from './identity/service-jwt.ts'
import { createRateLimiter, type RateLimiter } from './ratelimit/index.ts'
import { createRelayNotifier, type RelayNotifier } from './relay/notifier.ts'
import { IdentityResolver } from './identity/resolver.ts'
import type { Logger } from './logger.ts'
import { Mailer } from './mailer/mailer.ts'
import { createOAuthServer, oauthSessionStores, type OAuthServer } from './oauth/provider.ts'
import { ServiceProxy, type ResponseRewriter } from './proxy/service-proxy.ts'
import { createReadAfterWrite } from './read-after-write/index.ts'
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
  /** The operator's reads and changes of accounts (admin.getAccountInfo, updateAccountEmail, sendEmail, ...). */
  accountAdmin: AccountAdminService
  sessions: SessionService
  appPasswords: AppPasswordService
  invites: InviteService
  preferences: PreferenceService
  /** Codes mailed to account owners (confirm, update email, reset password, delete account). */
  emailTokens: EmailTokenService
  /** The owner's changes that need such a code: email confirmation and update, password reset, deletion. */
  selfService: SelfService
  identity: IdentityResolver
  /** resolveDid / resolveIdentity / refreshIdentity answers: DID documents and bidirectionally verified handles. */
  identityInfo: IdentityInfoService
  /** Handle changes (updateHandle): validation, PLC operation, the new handle and its #identity event. */
  handles: HandleService
  /** The owner's PLC operations: recommended credentials, mailed code, signing, submitting (and its #identity). */
  plcOperations: PlcOperationService
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
  /**
   * The OAuth authorization server (@atproto/oauth-provider over our stores, src/oauth/provider.ts): its routes, its
   * provider (loaded in the background from startup), which also checks OAuth access tokens for `auth` (stateful: a
   * deleted session's tokens fail at once), and its stores of sessions (counted on the status page) and one-time DPoP
   * values (both pruned by maintenance).
   */
  oauth: OAuthServer
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
  const plc = new PlcService(cfg.didPlcUrl, keypairFromHexOnFirstUse(cfg.secrets.plcRotationKeyHex), cfg.publicUrl)
  const store = new AccountStore(db)
  const sequencer = new Sequencer(db)
  const records = new RecordIndex(db)
  const blobs = new BlobIndex(db)
  const blobStore = new BlobStore(await blobBackend(cfg), blobs, (did) => store.byDid(did) !== undefined, log)
  await blobStore.sweepTemp()
  const identity = IdentityResolver.forConfig(cfg)
  const handleClaims = new HandleClaims(store)
  const rateLimiter = createRateLimiter(cfg, { log })
  const signingKey = signingKeyCache(store)
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
  // Before the account services: a takedown, a password reset and a deactivation end OAuth sessions through it.
  const oauthStores = oauthSessionStores({ cfg, db, store, repo })
  const accounts = new AccountService({ cfg, store, plc, identity, sessions, invites, appPasswords, repo, sequencer, handleClaims })
  const accountStatus = new AccountStatusService({
    db,
    store,
    sequencer,
    sessions,
    oauthSessions: oauthStores.tokens,
    repo,
    blobStore,
    identity,
    plc,
    publicUrl: cfg.publicUrl,
  })
  const emailTokens = new EmailTokenService(db, tokens.now)
  const mailer = Mailer.create(cfg, log)
  const emailAvailableTo = (did: string, email: string) => accounts.emailAvailableTo(did, email)
  const selfService = new SelfService({
    db,
    store,
    tokens: emailTokens,
    mailer,
    sessions,
    oauthSessions: oauthStores.tokens,
    accountStatus,
    emailAvailableTo,
    log,
    now: tokens.now,
  })
  const handles = new HandleService({
    serviceDomains: cfg.serviceHandleDomains,
    store,
    claims: handleClaims,
    plc,
    identity,
    sequencer,
  })
  const oauth = createOAuthServer({
    cfg,
    db,
    store,
    accounts,
    accountStatus,
    appPasswords,
    emailTokens,
    selfService,
    handles,
    rateLimiter,
    ...oauthStores,
  }, log)
  const auth = new AuthVerifier({
    tokens,
    sessions,
    adminPassword: cfg.secrets.adminPassword,
    adminFailures: rateLimiter.adminFailures,
    // A migrating account's old PDS vouches for it with a service JWT (createAccount with a did).
    serviceJwts: new ServiceJwtVerifier({
      serviceDid: cfg.serviceDid,
      signingKey: (did, fresh) => identity.atprotoKey(did, fresh),
    }),
    publicUrl: cfg.publicUrl,
    serviceDid: cfg.serviceDid,
    accountByDid: (did) => store.byDid(did),
    // OAuth access tokens are checked by the provider that issued them (stateful: a deleted session fails at once).
    oauth: oauth.verifier,
  })
  return {
    cfg,
    log,
    version: pkg.version,
    auth,
    accounts,
    accountStatus,
    accountAdmin: new AccountAdminService({
      db,
      store,
      invites,
      sessions,
      oauthSessions: oauthStores.tokens,
      emailTokens,
      mailer,
      emailAvailableTo,
    }),
    sessions,
    appPasswords,
    invites,
    preferences: new PreferenceService(db),
    emailTokens,
    selfService,
    identity,
    identityInfo: new IdentityInfoService({
      resolver: identity,
      serviceHandleDid: (handle) => serviceHandleDid(store, cfg.serviceHandleDomains, handle),
    }),
    handles,
    plcOperations: new PlcOperationService({
      store,
      plc,
      tokens: emailTokens,
      mailCode: (account, purpose) => selfService.mailCode(account, purpose),
      signingKey,
      sequencer,
      identity,
      publicUrl: cfg.publicUrl,
    }),
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
    proxy: new ServiceProxy({
      cfg: cfg.proxy,
      identity,
      serviceAuth,
      auth,
      log,
      rewriter: opts.rewriter ?? readAfterWrite(cfg, { records, repo, store, serviceAuth, log }),
    }),
    oauth,
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

/** The proxy's read-after-write hook: the caller's own newer records added to the AppView's answers. */
function readAfterWrite(
  cfg: Config,
  deps: { records: RecordIndex; repo: RepoService; store: AccountStore; serviceAuth: ServiceAuth; log: Logger },
): ResponseRewriter {
  const appView = cfg.proxy.services.appView
  return createReadAfterWrite({
    records: deps.records,
    repo: deps.repo,
    accounts: deps.store,
    log: deps.log,
    publicUrl: cfg.publicUrl,
    imageCdnUrlPattern: cfg.proxy.appViewCdnUrlPattern,
    appView: appView && { url: appView.url, did: appView.did, serviceAuth: deps.serviceAuth },
  })
}
