// The reference PDS (@atproto/pds, a devDependency) in-process, for tests that need a real peer: migrations in and
// out, comparisons of wire behaviour. Each instance gets a free loopback port, its own temp data directory (sqlite
// files + disk blobstore) and dev-mode-like settings: no reachable AppView, no invites, no rate limits, no SSRF guard
// (it must reach the loopback PLC directory), handles under `.test` unless told otherwise.
//
// Its logs go through @atproto/common's pino loggers, which are off unless LOG_ENABLED is set in the environment
// when the module is first imported; nothing here turns them on. It brings its own express 4 (and
// express-async-errors, which patches only that copy), so our express 5 server in the same process is unaffected.
import { mkdtempSync, rmSync } from 'node:fs'
import type http from 'node:http'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { Secp256k1Keypair } from '@atproto/crypto'
import { PDS, envToCfg, envToSecrets, type ServerEnvironment } from '@atproto/pds'
import { freePort } from './pds.ts'

export type ReferencePdsOptions = {
  /** The PLC directory to register and resolve DIDs with (our tests' `startPlc().url`, a `http://localhost:…` URL). */
  plcUrl: string
  /** Handle suffixes this PDS hands out, each starting with a dot. Default `['.test']`. */
  handleDomains?: string[]
  /** Where its mails go (`smtp://127.0.0.1:port`, e.g. TestSmtp's url); without it mails are dropped unseen. */
  smtpUrl?: string
  /** Require an invite code at signup (created with `adminAuth` through createInviteCode). Default false. */
  inviteRequired?: boolean
  /**
   * The AppView it names (default: a dead loopback address, never contacted by what tests do). The reference serves
   * app.bsky.actor.get/putPreferences only when an AppView is configured, so one is always named.
   */
  appView?: { url: string; did: string }
  /** Any other setting of the reference's environment (its `readEnv()` names), applied last. */
  env?: ServerEnvironment
}

export type ReferencePds = {
  /** Its public URL, `http://localhost:<port>`: what it puts in DID documents and what clients should call. */
  url: string
  /** Its service DID (`did:web:localhost%3A<port>`): the `aud` of service-auth tokens meant for it. */
  did: string
  /** `Basic …` header value for its admin methods (createInviteCode, …). */
  adminAuth: string
  dataDir: string
  /** The running instance, for a test that needs to look inside (`pds.ctx`). */
  pds: PDS
  /** Stop listening, close its databases and delete its data directory. */
  close: () => Promise<void>
}

export async function startReferencePds(opts: ReferencePdsOptions): Promise<ReferencePds> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'reference-pds-'))
  const port = await freePort()
  // A distinct service DID per instance: two of them in one test must not accept each other's service tokens.
  const did = `did:web:localhost%3A${port}`
  const adminPassword = randomBytes(12).toString('hex')
  const rotationKey = await Secp256k1Keypair.create({ exportable: true })
  const env: ServerEnvironment = {
    port,
    hostname: 'localhost', // → public URL http://localhost:<port>
    serviceDid: did,
    devMode: true, // also turns off its SSRF guard, which would refuse the loopback PLC directory
    dataDirectory: dataDir,
    blobstoreDiskLocation: path.join(dataDir, 'blobs'),
    didPlcUrl: opts.plcUrl,
    serviceHandleDomains: opts.handleDomains ?? ['.test'],
    inviteRequired: opts.inviteRequired ?? false,
    rateLimitsEnabled: false,
    crawlers: [],
    bskyAppViewUrl: opts.appView?.url ?? 'http://127.0.0.1:9',
    bskyAppViewDid: opts.appView?.did ?? 'did:web:appview.invalid',
    jwtSecret: randomBytes(16).toString('hex'),
    adminPassword,
    plcRotationKeyK256PrivateKeyHex: Buffer.from(await rotationKey.export()).toString('hex'),
    ...(opts.smtpUrl ? { emailSmtpUrl: opts.smtpUrl, emailFromAddress: 'noreply@reference.test' } : {}),
    ...opts.env,
  }
  const pds = await PDS.create(envToCfg(env), envToSecrets(env))
  // PDS.start() would listen on every interface; this is its start() with the listen bound to loopback.
  await pds.ctx.sequencer.start()
  const server: http.Server = pds.app.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://localhost:${port}`,
    did,
    adminAuth: 'Basic ' + Buffer.from(`admin:${adminPassword}`).toString('base64'),
    dataDir,
    pds,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await pds.destroy() // its databases, sequencer and background queue (the http terminator is unused: not started)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
