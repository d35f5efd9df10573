// The two servers and the account between them: what every step of the migration works with. Only the official
// XRPC API is used (through @atproto/api), so either side can be any PDS.
import { AtpAgent, CredentialSession } from '@atproto/api'
import type { MigrateArgs } from './args.ts'
import { ask, MigrateError, type Side } from './errors.ts'
import type { Output } from '../cli/output.ts'
import type { StateFile } from './state.ts'

export type Peer = {
  side: Side
  /** Signed in as the account (the new one only once its account exists: see account.ts). */
  agent: AtpAgent
  /** describeServer's `did`: the audience of service-auth tokens for it. */
  serviceDid: string
  /** describeServer's answer, for invite and handle-domain checks. */
  availableUserDomains: string[]
  inviteCodeRequired: boolean
}

export type Migration = {
  args: MigrateArgs
  out: Output
  state: StateFile
  did: string
  /** The handle and email the old PDS has for the account. */
  oldHandle: string
  oldEmail: string | undefined
  old: Peer
  new: Peer
  newHandle: string
  newEmail: string
  newPassword: string
}

/** Status as com.atproto.server.checkAccountStatus answers it (counts are of the account's own repo and blobs). */
export type AccountStatus = {
  activated: boolean
  validDid: boolean
  repoCommit: string
  repoRev: string
  repoBlocks: number
  indexedRecords: number
  privateStateValues: number
  expectedBlobs: number
  importedBlobs: number
}

/**
 * A session that sends every call to the server it signed in to. @atproto/api's own follows the DID document that
 * createSession returns (as Aurora and bsky.social do), which in a migration names the *other* server: the old PDS
 * until the PLC operation, the new one after it. Calls meant for one side would reach the other with the wrong token.
 */
class PinnedSession extends CredentialSession {
  override get dispatchUrl(): URL {
    return this.serviceUrl
  }
}

/** An AtpAgent for one side of a migration: it talks to `url` and nowhere else, whatever the DID document says. */
export function migrationAgent(url: string): AtpAgent {
  return new AtpAgent(new PinnedSession(new URL(url)))
}

/** describeServer on `url`: proves it is reachable and an atproto PDS before anything is changed. */
export async function connect(name: Side['name'], url: string): Promise<Peer> {
  const side: Side = { name, url }
  const agent = migrationAgent(url)
  const desc = await ask(side, 'answer com.atproto.server.describeServer', () =>
    agent.com.atproto.server.describeServer(),
  )
  return {
    side,
    agent,
    serviceDid: desc.data.did,
    availableUserDomains: desc.data.availableUserDomains,
    inviteCodeRequired: desc.data.inviteCodeRequired ?? false,
  }
}

/** Sign in to the old PDS; wrong credentials and a requested sign-in code get their own messages. */
export async function signInOld(old: Peer, args: MigrateArgs, password: string): Promise<void> {
  await ask(
    old.side,
    `sign in as ${args.identifier}`,
    () => old.agent.login({ identifier: args.identifier, password, authFactorToken: args.authFactorToken }),
    {
      AuthenticationRequired: 'check --identifier and --password (the account password: an app password cannot move an account)',
      AuthFactorTokenRequired: 'it emailed a sign-in code: run again with --auth-factor-token <code>',
      AccountTakedown: 'a taken-down account can only be moved with the help of its PDS operator',
    },
  )
}

/**
 * Sign in to the new PDS as `did`: true if that worked, false if the new PDS knows no such account with this
 * password. Any other failure (unreachable, 5xx) throws.
 */
export async function trySignInNew(m: Pick<Migration, 'new' | 'did' | 'newPassword'>): Promise<boolean> {
  try {
    await ask(m.new.side, 'sign in', () => m.new.agent.login({ identifier: m.did, password: m.newPassword }))
    return true
  } catch (err) {
    if (err instanceof MigrateError && (err.status === 401 || err.status === 400)) return false
    throw err
  }
}

export async function accountStatus(peer: Peer): Promise<AccountStatus> {
  const res = await ask(peer.side, 'report the account status (checkAccountStatus)', () =>
    peer.agent.com.atproto.server.checkAccountStatus(),
  )
  return res.data as AccountStatus
}

