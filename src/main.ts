// Start the server: parse config (exit 1 with one line on a bad value), listen, stop gracefully on SIGINT/SIGTERM.
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { ConfigError, configFromProcessEnv, type Config } from './config/index.ts'
import { MigrationError } from './db/migrate.ts'
import { createLogger } from './logger.ts'
import { startServer } from './server.ts'
import { describeListen } from './util/listen.ts'

let cfg: Config
try {
  cfg = configFromProcessEnv()
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`aurora-locus: bad configuration: ${err.message}`)
    process.exit(1)
  }
  throw err
}

// Someone watching a terminal reads lines; anything else (docker, systemd, a file) gets JSON for its collector.
const log = createLogger(cfg.logLevel, { pretty: process.stdout.isTTY === true })
try {
  const pds = await startServer(cfg, log)
  log.info(
    {
      url: cfg.publicUrl,
      port: cfg.port,
      // Dev mode: "127.0.0.1:3000 (this machine only)" unless PDS_BIND_HOST says otherwise.
      listen: describeListen(pds.server.address() as AddressInfo),
      dataDirectory: cfg.dataDirectory,
      plc: cfg.didPlcUrl,
      startupMs: Math.round(performance.now()),
    },
    'aurora-locus listening',
  )
  if (cfg.embeddedPlc) {
    log.warn(
      { plc: cfg.didPlcUrl },
      'using the EMBEDDED PLC directory (dev only): DIDs created here exist only on this machine; ' +
        'set PDS_DID_PLC_URL or a real PDS_HOSTNAME to federate',
    )
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down')
    pds.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
} catch (err) {
  if (err instanceof MigrationError) {
    console.error(`aurora-locus: ${err.message}`)
    process.exit(1)
  }
  throw err
}
