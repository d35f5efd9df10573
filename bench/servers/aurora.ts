// Launcher for the paired benchmark: one Aurora Locus server in this process, exactly as `npm start` runs it
// (src/index.ts, with Node's compile cache and the cache of stripped types, which bench/lib/server-process.ts loads
// with --import as package.json's start script does), configured from the command line, then one JSON ready line on
// stdout.
//
//   node --import ./src/type-strip-cache.js bench/servers/aurora.ts --plc http://localhost:PLC --port 3000 --data /tmp/dir
//
// Loopback only (dev mode), its own PLC directory, logs at warn, and for a single loopback client: rate limits off
// and no caps on firehose sockets (200 subscribers from 127.0.0.1 would meet the per-IP cap of 16).
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { plc: { type: 'string' }, port: { type: 'string' }, data: { type: 'string' } },
})
if (!values.plc || !values.port || !values.data) {
  console.error('usage: node bench/servers/aurora.ts --plc URL --port N --data DIR')
  process.exit(2)
}
Object.assign(process.env, {
  PDS_PORT: values.port,
  PDS_DATA_DIRECTORY: values.data,
  PDS_DID_PLC_URL: values.plc,
  PDS_LOG_LEVEL: 'warn',
  PDS_RATE_LIMITS_ENABLED: 'false',
  PDS_FIREHOSE_MAX_CONNECTIONS: '0',
  PDS_FIREHOSE_MAX_CONNECTIONS_PER_IP: '0',
})
// src/main.ts awaits the server's listen at top level, so this resolves once it accepts connections.
await import('../../src/index.ts')
console.log(JSON.stringify({ ready: true, server: 'aurora', url: `http://localhost:${values.port}` }))
