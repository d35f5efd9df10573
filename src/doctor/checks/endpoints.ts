// HTTP through the public URL: the health endpoint, and describeServer naming this server (not some other one
// behind the same proxy).
import type { Config } from '../../config/index.ts'
import type { CheckResult } from '../types.ts'
import type { Fetched } from '../../util/net.ts'

export function healthResult(cfg: Config, health: Fetched): CheckResult {
  return health.ok
    ? { id: 'health', status: 'pass', detail: `${cfg.publicUrl}/xrpc/_health answers (${health.text.trim().slice(0, 80)})` }
    : {
        id: 'health',
        status: 'fail',
        detail: `${cfg.publicUrl}/xrpc/_health: ${health.error}`,
        fix:
          `check that the PDS is running (port ${cfg.port}) and that whatever serves ${cfg.publicUrl} (DNS, ` +
          'firewall, reverse proxy) forwards to it',
      }
}

export function describeResult(cfg: Config, res: Fetched): CheckResult {
  if (!res.ok) {
    return {
      id: 'describe-server',
      status: 'fail',
      detail: `describeServer through ${cfg.publicUrl}: ${res.error}`,
      fix: `make ${cfg.publicUrl}/xrpc/ reach the PDS (the proxy must forward every path under /xrpc/)`,
    }
  }
  let did: unknown
  try {
    did = (JSON.parse(res.text) as { did?: unknown }).did
  } catch {}
  if (did !== cfg.serviceDid) {
    return {
      id: 'describe-server',
      status: 'fail',
      detail: `describeServer through ${cfg.publicUrl} names ${String(did)}, not this server (${cfg.serviceDid})`,
      fix: `${cfg.publicUrl} reaches another server: point DNS/the proxy at this PDS, or fix PDS_HOSTNAME`,
    }
  }
  return { id: 'describe-server', status: 'pass', detail: `describeServer answers through the public URL as ${cfg.serviceDid}` }
}
