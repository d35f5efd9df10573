// Launcher for the paired benchmark: one reference PDS (@atproto/pds, the devDependency) in this process, configured
// like its own dev environment, then one JSON ready line on stdout.
//
//   node bench/servers/reference.ts --plc http://localhost:PLC --port 3000 --data /tmp/dir
//
// Not test/helpers/reference-pds.ts: that module imports ours (for freePort), which would load Aurora into this
// process and count in its startup time and memory. Same settings: dev mode (which also lifts its SSRF guard, so it
// can reach the loopback PLC directory), rate limits off, no crawlers, no invites, `.test` handles, a dead AppView
// address, listening on loopback only. Its logs stay off (LOG_ENABLED unset), as Aurora's are at warn.
import { once } from 'node:events'
import type http from 'node:http'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { Secp256k1Keypair } from '@atproto/crypto'
import { PDS, envToCfg, envToSecrets, type ServerEnvironment } from '@atproto/pds'

const { values } = parseArgs({
  options: { plc: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' } },
})
if (!values.plc || !values.port || !values.data) {
  console.error('usage: node bench/servers/reference.ts --plc URL --port N --data DIR')
  process.exit(2)
}
const port = Number(values.port)
const rotationKey = await Secp256k1Keypair.create({ exportable: true })
const env: ServerEnvironment = {
  port,
  hostname: 'localhost',
  serviceDid: `did:web:localhost%3A${port}`,
  devMode: true,
  dataDirectory: values.data,
  blobstoreDiskLocation: path.join(values.data, 'blobs'),
  didPlcUrl: values.plc,
  serviceHandleDomains: ['.test'],
  inviteRequired: false,
  rateLimitsEnabled: false,
  crawlers: [],
  bskyAppViewUrl: 'http://127.0.0.1:9',
  bskyAppViewDid: 'did:web:appview.invalid',
  jwtSecret: randomBytes(16).toString('hex'),
  adminPassword: randomBytes(12).toString('hex'),
  plcRotationKeyK256PrivateKeyHex: Buffer.from(await rotationKey.export()).toString('hex'),
}
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
// PDS.start() listens on every interface; this is its start() with the listen bound to loopback.
await pds.ctx.sequencer.start()
const server: http.Server = pds.app.listen(port, '127.0.0.1')
server.keepAliveTimeout = 90_000 // as its start() sets
await once(server, 'listening')
console.log(JSON.stringify({ ready: true, server: 'reference', url: `http://localhost:${port}` }))

const stop = async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await pds.destroy()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
