// Start the server: parse config (exit 1 with one line on a bad value), listen, stop gracefully on SIGINT/SIGTERM:
// exit 0 once the server has closed (src/server.ts says in what order), exit 1 if that takes longer than
// SHUTDOWN_TIMEOUT_MS or fails, and at once on another signal a while after the first.
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { ConfigError, configFromProcessEnv, type Config } from './config/index.ts'
import { MigrationError } from './db/migrate.ts'
import { createLogger } from './logger.ts'
import { startServer, type PdsServer } from './server.ts'
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

/** Inside `docker stop`'s default 10 s, with room to spare; the server's own deadlines end well before it. */
const SHUTDOWN_TIMEOUT_MS = 8000
/**
 * Ctrl-C under `npm start` delivers SIGINT twice at once (the terminal signals the process group, and npm forwards
 * its own); only a signal this long after the first means "stop now".
 */
const REPEAT_SIGNAL_MS = 1000

// Someone watching a terminal reads lines; anything else (docker, systemd, a file) gets JSON for its collector.
const log = createLogger(cfg.logLevel, { pretty: process.stdout.isTTY === true })

// Installed before startup, so a signal during it (migrations, opening the database) is not lost: as PID 1 in a
// container, a process without a handler ignores SIGTERM and `docker stop` has to wait for its SIGKILL.
let pds: PdsServer | undefined
let stopping: { signal: string; at: number } | undefined
const finish = (server: PdsServer, at: number) => {
  server.close().then(
    () => {
      log.info({ ms: Math.round(performance.now() - at) }, 'stopped')
      process.exit(0)
    },
    (err: unknown) => {
      log.error({ err }, 'shutdown failed')
      process.exit(1)
    },
  )
}
const stop = (signal: string) => {
  if (stopping) {
    if (performance.now() - stopping.at < REPEAT_SIGNAL_MS) return
    log.warn({ signal }, 'second signal during shutdown: exiting now')
    process.exit(1)
  }
  stopping = { signal, at: performance.now() }
  log.info({ signal }, 'shutting down')
  setTimeout(() => {
    log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown did not finish in time: exiting')
    process.exit(1)
  }, SHUTDOWN_TIMEOUT_MS).unref()
  if (pds) finish(pds, stopping.at)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

try {
  pds = await startServer(cfg, log)
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
  if (stopping) finish(pds, stopping.at)
} catch (err) {
  if (err instanceof MigrationError) {
    console.error(`aurora-locus: ${err.message}`)
    process.exit(1)
  }
  throw err
}
