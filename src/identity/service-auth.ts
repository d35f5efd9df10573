// Service auth: short-lived JWTs an account signs with its repo signing key to speak for itself to another service
// (an AppView, a PDS it migrates to). getServiceAuth hands them to the client; a later proxy reuses `create`.
import type { Keypair } from '@atproto/crypto'
import { InvalidRequestError } from '../errors.ts'

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS

/** Lowercased, as the reference compares method names (NSIDs are case-insensitive in their authority part). */
const lxmSet = (methods: readonly string[]) => new Set(methods.map((m) => m.toLowerCase()))


const PRIVILEGED_OUTSIDE_CHAT = lxmSet(['com.atproto.server.createAccount'])

/**
 * Whether only a real login or a privileged app password may call `lxm` through us or get a token for it: every
 * chat.bsky method, and createAccount elsewhere. The reference lists the chat methods one by one, and its list lags
 * the chat lexicons (reactions, accepting conversations, groups came later): a prefix cannot fall behind.
 */
export function isPrivilegedMethod(lxm: string): boolean {
  const lower = lxm.toLowerCase()
  return lower.startsWith('chat.bsky.') || PRIVILEGED_OUTSIDE_CHAT.has(lower)
}

/** Methods no one gets a token for: they manage the account itself (the reference's PROTECTED_METHODS). */
export const PROTECTED_METHODS = lxmSet([
  'com.atproto.admin.sendEmail',
  'com.atproto.identity.requestPlcOperationSignature',
  'com.atproto.identity.signPlcOperation',
  'com.atproto.identity.updateHandle',
  'com.atproto.server.activateAccount',
  'com.atproto.server.confirmEmail',
  'com.atproto.server.createAppPassword',
  'com.atproto.server.deactivateAccount',
  'com.atproto.server.getAccountInviteCodes',
  'com.atproto.server.getSession',
  'com.atproto.server.listAppPasswords',
  'com.atproto.server.requestAccountDelete',
  'com.atproto.server.requestEmailConfirmation',
  'com.atproto.server.requestEmailUpdate',
  'com.atproto.server.revokeAppPassword',
  'com.atproto.server.updateEmail',
])

export type ServiceAuthRequest = {
  /** The account the token speaks for (its `iss`). */
  did: string
  /**
   * Whether the caller may have tokens for privileged methods (chat, createAccount): a real login or a privileged app
   * password; an OAuth token whose scopes were checked for the method.
   */
  privileged: boolean
  aud: string
  /** The one method the token is good for; null: any (then it may live a minute at most). */
  lxm: string | null
  /** Expiry, epoch seconds; undefined: a minute from now. */
  exp?: number
}

export class ServiceAuth {
  private readonly signingKey: (did: string) => Promise<Keypair>
  private readonly now: () => number

  constructor(signingKey: (did: string) => Promise<Keypair>, now: () => number = Date.now) {
    this.signingKey = signingKey
    this.now = now
  }

  /** A token for `iss` to `aud`, no checks: for the server's own use (proxying). */
  async create(iss: string, aud: string, lxm: string | null, exp?: number): Promise<string> {
    // Loaded on first use: @atproto/xrpc-server is a heavy import that a server starting up does not need.
    const { createServiceJwt } = await import('@atproto/xrpc-server')
    return createServiceJwt({ iss, aud, lxm, exp, keypair: await this.signingKey(iss) })
  }

  /** A token a client asked for (getServiceAuth), under the reference's rules; InvalidRequest if refused. */
  async createForClient(req: ServiceAuthRequest): Promise<string> {
    const { lxm, exp } = req
    if (lxm !== null && isPrivilegedMethod(lxm) && !req.privileged) {
      throw new InvalidRequestError(`insufficient access to request a service auth token for the following method: ${lxm}`)
    }
    if (exp !== undefined) {
      const diff = exp * 1000 - this.now()
      if (diff < 0) throw new InvalidRequestError('expiration is in past', 'BadExpiration')
      if (diff > HOUR_MS) {
        throw new InvalidRequestError(
          'cannot request a token with an expiration more than an hour in the future',
          'BadExpiration',
        )
      }
      if (lxm === null && diff > MINUTE_MS) {
        throw new InvalidRequestError(
          'cannot request a method-less token with an expiration more than a minute in the future',
          'BadExpiration',
        )
      }
    }
    if (lxm !== null && PROTECTED_METHODS.has(lxm.toLowerCase())) {
      throw new InvalidRequestError(`cannot request a service auth token for the following protected method: ${lxm}`)
    }
    return this.create(req.did, req.aud, lxm, exp)
  }
}
