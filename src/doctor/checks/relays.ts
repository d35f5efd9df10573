// Relays: ask each configured relay (public endpoints only) whether it follows this host and how far behind it is.
import type { Config } from '../../config/index.ts'
import { isLocalOrIp } from '../../util/net.ts'
import { relayView, type RelayView } from './relay-view.ts'
import type { CheckResult } from '../types.ts'
import type { Local } from './account-list.ts'

export async function checkRelays(cfg: Config, local: Local | { error: string }, doFetch: typeof fetch, timeoutMs: number): Promise<CheckResult[]> {
  if (!cfg.federation.enabled) {
    return [
      {
        id: 'federation',
        status: 'warn',
        detail: 'federation is off (PDS_FEDERATION_ENABLED=false): no relay is asked to crawl this server, relays not consulted',
        fix: 'once the checks above pass, set PDS_FEDERATION_ENABLED=true and restart',
      },
    ]
  }
  const hostname = new URL(cfg.publicUrl).hostname
  const accounts = 'error' in local ? [] : local.accounts.filter((a) => a.active).slice(0, 50)
  const revs = Object.fromEntries(accounts.map((a) => [a.did, a.rev]))
  const latestSeq = 'error' in local ? null : local.latestSeq
  const out: CheckResult[] = []
  if (!cfg.federation.autoStream) {
    out.push({
      id: 'federation',
      status: 'warn',
      detail: 'PDS_FEDERATION_AUTO_STREAM=false: relays are asked to crawl on startup only, not after writes',
      fix: 'set PDS_FEDERATION_AUTO_STREAM=true so a relay that dropped this server is asked again',
    })
  }
  for (const url of cfg.federation.relayUrls) {
    const view = await relayView(url, hostname, accounts.map((a) => a.did), {
      fetch: doFetch,
      timeoutMs,
      local: { seq: latestSeq, revs },
    })
    out.push(relayResult(cfg, hostname, view))
  }
  return out
}

function relayResult(cfg: Config, hostname: string, v: RelayView): CheckResult {
  const id = `relay:${v.url}`
  const base = { id, data: v }
  const localNote = cfg.devMode && isLocalOrIp(hostname) ? ` (dev: relays refuse ${hostname})` : ''
  if (!v.reachable) {
    return {
      ...base,
      status: 'fail',
      detail: `relay ${v.url} is unreachable: ${v.error}`,
      fix: 'check the URL in PDS_FEDERATION_RELAY_URLS and that this machine can reach it',
    }
  }
  const repos = summarizeRepos(v)
  const h = v.host
  if (!h.supported) {
    return {
      ...base,
      status: 'warn',
      detail: `relay ${v.url} answers but does not expose getHostStatus: cannot tell whether it follows ${hostname}${repos}`,
    }
  }
  if (h.error) {
    return { ...base, status: 'warn', detail: `relay ${v.url}: getHostStatus failed: ${h.error}${repos}` }
  }
  if (h.found === false) {
    return {
      ...base,
      status: cfg.devMode ? 'warn' : 'fail',
      detail: `relay ${v.url} does not know ${hostname}${localNote}${repos}`,
      fix:
        'the PDS asks every relay on startup and after writes when PDS_FEDERATION_ENABLED=true: restart it and ' +
        'look for "requestCrawl" in its log; relays only accept https hostnames on port 443 whose firehose upgrades',
    }
  }
  const behind =
    v.behindEvents === undefined
      ? ''
      : v.behindEvents <= 0
        ? `, caught up at seq ${h.seq}`
        : `, ${v.behindEvents} events behind (relay at seq ${h.seq})`
  const counted = h.accountCount === undefined ? '' : `, ${h.accountCount} account${h.accountCount === 1 ? '' : 's'}`
  const detail = `relay ${v.url} knows ${hostname}: status ${h.status ?? 'unknown'}${counted}${behind}${repos}`
  if (h.status === 'banned') {
    return { ...base, status: 'fail', detail, fix: `contact the operator of ${v.url}: this host is banned there` }
  }
  if (h.status === 'offline' || h.status === 'idle' || h.status === 'throttled') {
    return {
      ...base,
      status: 'warn',
      detail,
      fix:
        h.status === 'throttled'
          ? 'the relay limits this host (often after broken commit chains): check the firehose and PDS logs'
          : 'the relay is not connected to the firehose now: restart the PDS (it asks on startup) or wait for its next requestCrawl, and check the firehose check above',
    }
  }
  return { ...base, status: 'pass', detail }
}

function summarizeRepos(v: RelayView): string {
  if (!v.repos.length) return ''
  const supported = v.repos.filter((r) => r.supported)
  if (!supported.length) return '; it does not expose per-repo status'
  const unknown = supported.filter((r) => r.found === false).length
  const stale = supported.filter((r) => r.inSync === false).length
  const inSync = supported.filter((r) => r.inSync === true).length
  return `; repos: ${inSync}/${v.repos.length} at our latest rev${stale ? `, ${stale} behind` : ''}${unknown ? `, ${unknown} unknown to it` : ''}`
}
