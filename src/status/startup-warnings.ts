// What a server with a real hostname has switched off, or left on from development, that keeps it from being a
// working member of the network. Each is a `warn` line at startup and a red row on the status page, because an info
// line scrolled away is how a PDS ends up running for weeks without a relay ever hearing of it.
import type { Config } from '../config/index.ts'
import { isLocalOrIp } from '../util/net.ts'

export type StartupWarning = {
  /** Stable name, for tests and log queries. */
  id: 'federation-off' | 'no-relays' | 'dev-plc' | 'dev-mode' | 'metrics-open'
  /** One sentence for the operator: what is off and which variable turns it on. */
  message: string
}

type WarningConfig = Pick<Config, 'hostname' | 'federation' | 'embeddedPlc' | 'didPlcUrl' | 'devMode' | 'metrics'>

/** The warnings for `cfg`; none on localhost (a development server is expected to have all of these). */
export function startupWarnings(cfg: WarningConfig): StartupWarning[] {
  if (cfg.hostname === 'localhost') return []
  const out: StartupWarning[] = []
  if (!cfg.federation.enabled) {
    out.push({
      id: 'federation-off',
      message:
        'Federation is off (PDS_FEDERATION_ENABLED=false): no relay is asked to crawl this server, so posts made ' +
        'here reach nobody outside it. Set PDS_FEDERATION_ENABLED=true once `npm run doctor` passes.',
    })
  } else if (cfg.federation.relayUrls.length === 0) {
    out.push({
      id: 'no-relays',
      message: 'No relay is configured (PDS_FEDERATION_RELAY_URLS is empty): nobody is asked to crawl this server.',
    })
  }
  if (cfg.embeddedPlc || isLocalOrIp(new URL(cfg.didPlcUrl).hostname)) {
    out.push({
      id: 'dev-plc',
      message:
        `DIDs are registered with a development PLC directory (${cfg.didPlcUrl}) that the network cannot reach: ` +
        'nobody outside can resolve accounts made here. Unset PDS_DID_PLC_URL (https://plc.directory) before creating accounts.',
    })
  }
  if (cfg.devMode) {
    out.push({
      id: 'dev-mode',
      message:
        'Dev mode is on (PDS_DEV_MODE=true): identities resolve over plain http with no SSRF guard and rate limits ' +
        'are off by default. Unset PDS_DEV_MODE on a public server.',
    })
  }
  if (cfg.metrics.enabled && cfg.metrics.token === undefined) {
    out.push({
      id: 'metrics-open',
      message: 'GET /metrics is on without PDS_METRICS_TOKEN: anyone who reaches the port can read it. Set a token.',
    })
  }
  return out
}
