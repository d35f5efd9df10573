// What a relay knows of us, from its public read endpoints where it has them: getHostStatus for our hostname, and
// getRepoStatus (or getLatestCommit) per repo, compared with our own figures to tell how far behind it is. Every
// call is optional on the relay's side: "not supported" is an answer, not a failure.
import { describeNetworkError } from '../../util/net.ts'
import { mapLimit } from '../../util/map-limit.ts'

export type HostView = {
  /** False when the relay does not implement getHostStatus. */
  supported: boolean
  /** Whether the relay has a record of our hostname (HostNotFound → false). */
  found?: boolean
  /** active | idle | offline | throttled | banned (as the relay reports it). */
  status?: string
  /** The last seq of ours the relay has processed. */
  seq?: number
  accountCount?: number
  error?: string
}

export type RepoView = {
  did: string
  supported: boolean
  source?: 'getRepoStatus' | 'getLatestCommit'
  found?: boolean
  active?: boolean
  status?: string
  /** The latest rev the relay has for this repo. */
  rev?: string
  /** Ours, when given. */
  localRev?: string
  /** rev === localRev; undefined when either is unknown. */
  inSync?: boolean
  error?: string
}

export type RelayView = {
  url: string
  /** The relay answered HTTP at all. */
  reachable: boolean
  error?: string
  host: HostView
  repos: RepoView[]
  /** Our latest seq minus the relay's, when both are known (≤ 0: caught up). */
  behindEvents?: number
}

export type RelayViewOptions = {
  fetch?: typeof fetch
  timeoutMs?: number
  /** Our own figures to compare with. */
  local?: { seq?: number | null; revs?: Record<string, string | undefined> }
  concurrency?: number
}

type Answer =
  | { kind: 'ok'; body: Record<string, unknown> }
  | { kind: 'xrpc-error'; status: number; error: string; message?: string }
  | { kind: 'unsupported'; status: number }
  | { kind: 'unreachable'; error: string }

export async function relayView(relayUrl: string, hostname: string, dids: string[], opts: RelayViewOptions = {}): Promise<RelayView> {
  const get = (nsid: string, params: Record<string, string>) => query(relayUrl, nsid, params, opts)
  const view: RelayView = { url: relayUrl, reachable: true, host: { supported: true }, repos: [] }

  const host = await get('com.atproto.sync.getHostStatus', { hostname })
  if (host.kind === 'unreachable') {
    return { ...view, reachable: false, error: host.error, host: { supported: false, error: host.error } }
  }
  view.host = hostViewOf(host)
  if (typeof view.host.seq === 'number' && typeof opts.local?.seq === 'number') {
    view.behindEvents = opts.local.seq - view.host.seq
  }

  let repoStatusSupported = true
  let latestCommitSupported = true
  const one = async (did: string): Promise<RepoView> => {
    const localRev = opts.local?.revs?.[did]
    const withRev = (v: RepoView): RepoView => ({
      ...v,
      ...(localRev !== undefined ? { localRev } : {}),
      ...(localRev !== undefined && v.rev !== undefined ? { inSync: v.rev === localRev } : {}),
    })
    if (repoStatusSupported) {
      const a = await get('com.atproto.sync.getRepoStatus', { did })
      if (a.kind === 'ok') {
        return withRev({
          did,
          supported: true,
          source: 'getRepoStatus',
          found: true,
          active: a.body.active === true,
          ...(typeof a.body.status === 'string' ? { status: a.body.status } : {}),
          ...(typeof a.body.rev === 'string' ? { rev: a.body.rev } : {}),
        })
      }
      if (a.kind === 'unsupported') repoStatusSupported = false
      else return withRev(repoErrorView(did, 'getRepoStatus', a))
    }
    if (latestCommitSupported) {
      const a = await get('com.atproto.sync.getLatestCommit', { did })
      if (a.kind === 'ok') {
        return withRev({
          did,
          supported: true,
          source: 'getLatestCommit',
          found: true,
          ...(typeof a.body.rev === 'string' ? { rev: a.body.rev } : {}),
        })
      }
      if (a.kind === 'unsupported') latestCommitSupported = false
      else return withRev(repoErrorView(did, 'getLatestCommit', a))
    }
    return withRev({ did, supported: false })
  }
  view.repos = await mapLimit(dids, opts.concurrency ?? 4, one)
  return view
}

function hostViewOf(a: Exclude<Answer, { kind: 'unreachable' }>): HostView {
  if (a.kind === 'unsupported') return { supported: false }
  if (a.kind === 'xrpc-error') {
    if (a.error === 'HostNotFound') return { supported: true, found: false }
    return { supported: true, error: `${a.error}${a.message ? `: ${a.message}` : ''} (HTTP ${a.status})` }
  }
  const b = a.body
  return {
    supported: true,
    found: true,
    ...(typeof b.status === 'string' ? { status: b.status } : {}),
    ...(typeof b.seq === 'number' ? { seq: b.seq } : {}),
    ...(typeof b.accountCount === 'number' ? { accountCount: b.accountCount } : {}),
  }
}

function repoErrorView(did: string, source: RepoView['source'], a: Answer): RepoView {
  if (a.kind === 'xrpc-error' && a.error === 'RepoNotFound') return { did, supported: true, source, found: false }
  const error =
    a.kind === 'xrpc-error' ? `${a.error}${a.message ? `: ${a.message}` : ''} (HTTP ${a.status})` : a.kind === 'unreachable' ? a.error : 'unexpected answer'
  return { did, supported: true, source, error }
}

async function query(base: string, nsid: string, params: Record<string, string>, opts: RelayViewOptions): Promise<Answer> {
  const url = new URL(`/xrpc/${nsid}`, base)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  let res: Response
  let text: string
  try {
    res = await (opts.fetch ?? globalThis.fetch)(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    })
    text = await res.text()
  } catch (err) {
    const e = err as { name?: string }
    return { kind: 'unreachable', error: e.name === 'TimeoutError' ? 'no answer in time' : describeNetworkError(err) }
  }
  let body: Record<string, unknown> | undefined
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>
  } catch {}
  if (res.ok) return body ? { kind: 'ok', body } : { kind: 'xrpc-error', status: res.status, error: 'NotJson' }
  const error = typeof body?.error === 'string' ? body.error : undefined
  // Relays that lack a method answer 404, 501 or the XRPC "not supported/implemented" names.
  if (res.status === 404 || res.status === 501 || error === 'MethodNotImplemented' || error === 'XRPCNotSupported') {
    if (error !== 'RepoNotFound' && error !== 'HostNotFound') return { kind: 'unsupported', status: res.status }
  }
  return {
    kind: 'xrpc-error',
    status: res.status,
    error: error ?? `HTTP${res.status}`,
    ...(typeof body?.message === 'string' ? { message: body.message } : {}),
  }
}
