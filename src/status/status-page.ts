// GET / for people: a small server-rendered page with what an operator checks first. No client framework, no
// scripts; it refreshes itself. Non-browser clients keep getting the reference's plain-text banner.
// The page at / is public, so it shows figures only: who is subscribed to the firehose (their addresses) is for the
// operator, on the same page at /status behind the admin password.
import type { FirehoseStats } from '../firehose/firehose.ts'
import type { RelayStatus } from '../relay/notifier.ts'
import type { StartupWarning } from './startup-warnings.ts'

export type StatusSnapshot = {
  version: string
  publicUrl: string
  hostname: string
  accounts: number
  /** OAuth sessions apps hold (src/oauth/token-store.ts countActive). */
  oauthSessions: number
  latestSeq: number
  firehose: FirehoseStats
  federationEnabled: boolean
  relays: RelayStatus[]
  startedAt: string
  now: string
  /** What a server with a real hostname has off (startup-warnings.ts): red rows at the top. */
  warnings: StartupWarning[]
  /** The operator's view (/status, admin password): one row per firehose subscriber, with its address. */
  details: boolean
}

/** Where the operator's view is served. */
export const STATUS_DETAILS_PATH = '/status'

export function wantsHtml(accept: string | undefined): boolean {
  return !!accept && /\btext\/html\b/.test(accept)
}

export function bannerText(version: string): string {
  return `Aurora Locus ${version}: an AT Protocol Personal Data Server\n\nMost API routes are under /xrpc/\n`
}

const esc = (value: unknown): string =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

const when = (iso: string | null | undefined): string => (iso ? `<time datetime="${esc(iso)}">${esc(iso)}</time>` : '—')

export function renderStatusPage(s: StatusSnapshot): string {
  const subscribers = s.firehose.subscribers
    .map(
      (sub) =>
        `<tr><td>${esc(sub.remoteAddress)}</td><td class="num" data-lag>${esc(sub.lag)}</td>` +
        `<td class="num">${esc(sub.lastSentSeq)}</td><td>${when(sub.connectedAt)}</td></tr>`,
    )
    .join('')
  const maxLag = Math.max(0, ...s.firehose.subscribers.map((sub) => sub.lag))
  const relays = s.relays
    .map(
      (r) =>
        `<tr><td>${esc(r.url)}</td><td>${when(r.lastAttemptAt)}</td>` +
        `<td class="${r.lastResult === 'ok' ? 'ok' : r.lastResult ? 'bad' : ''}">${esc(r.lastResult ?? 'not yet')}` +
        `${r.lastError ? ` <small>${esc(r.lastError)}</small>` : ''}</td>` +
        `<td>${when(r.lastSuccessAt)}</td><td>${when(r.nextAttemptAt)}</td></tr>`,
    )
    .join('')
  const warnings = s.warnings
    .map((w) => `<tr class="bad" data-warning="${esc(w.id)}"><th scope="row">Off</th><td>${esc(w.message)}</td></tr>`)
    .join('')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10">
<title>Aurora Locus · ${esc(s.hostname)}</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
  .sub { color: #667; margin-top: 0; }
  dl.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .8rem; }
  dl.figures div { background: #f3f5f9; border-radius: .5rem; padding: .7rem .9rem; }
  dt { color: #667; font-size: .85rem; } dd { margin: 0; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e3e6ee; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; } .ok { color: #17803d; } .bad { color: #b42318; }
  .empty { color: #667; font-style: italic; } .footer { margin-top: 2rem; }
  #warnings { margin: 1rem 0; } #warnings tr.bad { background: #fdecea; } #warnings th { width: 3rem; }
</style>
</head>
<body>
<h1>Aurora Locus</h1>
<p class="sub">AT Protocol PDS · version <span id="version">${esc(s.version)}</span> · <a href="${esc(s.publicUrl)}">${esc(s.publicUrl)}</a></p>
${warnings ? `<table id="warnings"><tbody>${warnings}</tbody></table>` : ''}
<dl class="figures">
  <div><dt>Accounts</dt><dd id="accounts">${esc(s.accounts)}</dd></div>
  <div><dt>OAuth sessions</dt><dd id="oauth-sessions">${esc(s.oauthSessions)}</dd></div>
  <div><dt>Latest seq</dt><dd id="latest-seq">${esc(s.latestSeq)}</dd></div>
  <div><dt>Firehose subscribers</dt><dd id="subscribers">${esc(s.firehose.subscriberCount)}</dd></div>
  <div><dt>Federation</dt><dd id="federation">${s.federationEnabled ? 'on' : 'off'}</dd></div>
</dl>
<h2>Firehose subscribers</h2>
${
  !s.firehose.subscriberCount
    ? `<p class="empty">${s.firehose.enabled ? 'Nobody is subscribed to the firehose right now.' : 'The firehose is disabled (PDS_FEDERATION_FIREHOSE_ENABLED=false).'}</p>`
    : s.details
      ? `<table id="subscriber-table"><thead><tr><th>Remote address</th><th>Lag (events)</th><th>Last sent seq</th><th>Connected</th></tr></thead><tbody>${subscribers}</tbody></table>`
      : `<p id="subscriber-summary">${esc(s.firehose.subscriberCount)} connected; the furthest behind is <span id="max-lag">${esc(maxLag)}</span> events. ` +
        `Who they are: <a href="${STATUS_DETAILS_PATH}">${STATUS_DETAILS_PATH}</a> (admin password).</p>`
}
<h2>Relays</h2>
${
  !s.federationEnabled
    ? '<p class="empty">Federation is off (PDS_FEDERATION_ENABLED=false): no relay is asked to crawl this server.</p>'
    : relays
      ? `<table id="relay-table"><thead><tr><th>Relay</th><th>Last requestCrawl</th><th>Result</th><th>Last success</th><th>Next attempt</th></tr></thead><tbody>${relays}</tbody></table>`
      : '<p class="empty">No relays configured.</p>'
}
<p class="sub footer">Rendered ${when(s.now)} · up since ${when(s.startedAt)} · refreshes every 10 s · run <code>npm run doctor</code> for a full federation check.</p>
</body>
</html>
`
}
