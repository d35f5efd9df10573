// The public URL: relays only crawl https hostnames on the default port, so check its shape before anything else.
import type { Config } from '../../config/index.ts'
import { isLocalOrIp } from '../../util/net.ts'
import type { CheckResult, CheckStatus } from '../types.ts'

export function checkPublicUrl(cfg: Pick<Config, 'publicUrl' | 'hostname' | 'devMode'>): CheckResult {
  const u = new URL(cfg.publicUrl)
  const problems: string[] = []
  const fixes: string[] = []
  if (u.protocol !== 'https:') {
    problems.push('is not https')
    fixes.push('put TLS in front of the PDS (see nginx.conf) and set PDS_PUBLIC_URL=https://<your hostname>')
  }
  if (u.port) {
    problems.push(`has a port (:${u.port})`)
    fixes.push('relays connect to the default port only: serve the PDS on 443 and drop the port from PDS_PUBLIC_URL')
  }
  if (isLocalOrIp(u.hostname)) {
    problems.push(`has no public hostname (${u.hostname})`)
    fixes.push('use a DNS name such as pds.example.com: relays refuse localhost and IP addresses')
  }
  if (u.pathname !== '/' || u.search || u.hash) {
    problems.push(`has a path (${u.pathname})`)
    fixes.push('serve the PDS at the root of its hostname: relays only know hostnames')
  }
  const severity: CheckStatus = cfg.devMode ? 'warn' : 'fail'
  if (problems.length) {
    return {
      id: 'public-url',
      status: severity,
      detail:
        `PDS_PUBLIC_URL ${cfg.publicUrl} ${problems.join(', ')}` +
        (cfg.devMode ? ' (dev mode: fine for local testing, but no relay can crawl it)' : ''),
      fix: fixes.join('; '),
    }
  }
  if (u.hostname !== cfg.hostname) {
    return {
      id: 'public-url',
      status: 'warn',
      detail: `PDS_PUBLIC_URL's host ${u.hostname} differs from PDS_HOSTNAME ${cfg.hostname}`,
      fix: 'make them the same unless you know why not: handles and the service DID use PDS_HOSTNAME',
    }
  }
  return { id: 'public-url', status: 'pass', detail: `PDS_PUBLIC_URL ${cfg.publicUrl} is https on the default port with a hostname` }
}
