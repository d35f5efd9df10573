// Builds every service once. Handlers receive this context; nothing else wires dependencies.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { IdResolver } from '@atproto/identity'
import { AccountService } from './account/account-service.ts'
import { AccountStore } from './account/account-store.ts'
import { AppPasswordService } from './account/app-passwords.ts'
import { InviteService } from './account/invites.ts'
import { SessionService } from './account/sessions.ts'
import { TokenService } from './account/tokens.ts'
import type { Config } from './config/index.ts'
import { openDatabase, type Db } from './db/index.ts'
import { keypairFromHex } from './identity/keys.ts'
import { PlcService } from './identity/plc.ts'
import { createIdResolver } from './identity/resolver.ts'
import type { Logger } from './logger.ts'
import { AuthVerifier } from './xrpc/auth.ts'

const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as {
  version: string
}

export type AppContext = {
  cfg: Config
  log: Logger
  version: string
  db: Db
  auth: AuthVerifier
  accounts: AccountService
  sessions: SessionService
  appPasswords: AppPasswordService
  invites: InviteService
  idResolver: IdResolver
}

export async function createContext(cfg: Config, log: Logger): Promise<AppContext> {
  const db = openDatabase(cfg.dbPath)
  const tokens = new TokenService(cfg.secrets.jwtSecret, cfg.serviceDid)
  const sessions = new SessionService(db, tokens)
  const appPasswords = new AppPasswordService(db)
  const invites = new InviteService(db, cfg.hostname)
  const plc = new PlcService(cfg.didPlcUrl, await keypairFromHex(cfg.secrets.plcRotationKeyHex), cfg.publicUrl)
  const store = new AccountStore(db)
  return {
    cfg,
    log,
    version: pkg.version,
    db,
    auth: new AuthVerifier(tokens, sessions, cfg.secrets.adminPassword),
    accounts: new AccountService({ cfg, store, plc, sessions, invites, appPasswords }),
    sessions,
    appPasswords,
    invites,
    idResolver: createIdResolver({ plcUrl: cfg.didPlcUrl, devMode: cfg.devMode }),
  }
}
