// Read-after-write: when the AppView answers the caller about their own timeline, feeds, threads or profile from an
// older copy of their repo (its `atproto-repo-rev` header is behind), add what the caller wrote since, so that "I
// posted and don't see it" does not happen. Follows the reference's pipethroughReadAfterWrite
// (read-after-write/util.js) and the munges in api/app/bsky/{feed,actor}/*.js. The proxy calls `rewrite` with the
// AppView's parsed JSON answer; this module knows no HTTP beyond that and the optional quoted-record lookups.
import { AtUri } from '@atproto/syntax'
import type { AccountStore } from '../account/account-store.ts'
import type { Logger } from '../logger.ts'
import { loadLexicons } from '../repo/prepare.ts'
import { appViewQuery, type AppViewQueryOptions } from './appview-query.ts'
import { imageUrlBuilder } from './image-url.ts'
import { isValidOutput } from './lexicon-output.ts'
import { hasRecordsSinceRev, readRecordsSinceRev, type LocalRecordSource } from './local-records.ts'
import { LocalViewer, type ViewerDeps } from './local-viewer.ts'
import { getActorLikesMunge } from './munge/getActorLikes.ts'
import { getAuthorFeedMunge } from './munge/getAuthorFeed.ts'
import { getPostThreadMunge, localPostThread } from './munge/getPostThread.ts'
import { getProfileMunge } from './munge/getProfile.ts'
import { getProfilesMunge } from './munge/getProfiles.ts'
import { getTimelineMunge } from './munge/getTimeline.ts'
import type { LocalRecords, Munge, ResponseRewriter } from './types.ts'

export type { ResponseRewriter } from './types.ts'

/** The AppView's view of the caller's repo: the rev of the newest commit it has indexed. */
export const REPO_REV_HEADER = 'atproto-repo-rev'
/** Milliseconds between the oldest local record added and now: how far behind the AppView is (the reference's). */
export const UPSTREAM_LAG_HEADER = 'atproto-upstream-lag'

// Each munge takes its method's output type; the table forgets it, and `rewrite` only calls a munge with an answer
// that passed that method's output lexicon.
const MUNGES: Record<string, Munge<any>> = {
  'app.bsky.feed.getTimeline': getTimelineMunge,
  'app.bsky.feed.getAuthorFeed': getAuthorFeedMunge,
  'app.bsky.feed.getActorLikes': getActorLikesMunge,
  'app.bsky.feed.getPostThread': getPostThreadMunge,
  'app.bsky.actor.getProfile': getProfileMunge,
  'app.bsky.actor.getProfiles': getProfilesMunge,
}

export type ReadAfterWriteDeps = LocalRecordSource & {
  accounts: Pick<AccountStore, 'byDid'>
  log: Logger
  /** This PDS's public URL: images of local posts and profiles point at its getBlob unless a CDN pattern is set. */
  publicUrl: string
  /** The AppView's CDN URL pattern (`%s` preset, DID, CID), as the reference's PDS_BSKY_APP_VIEW_CDN_URL_PATTERN. */
  imageCdnUrlPattern?: string
  /** The AppView, to look up records quoted by local posts; absent: they show as not found, as in the reference. */
  appView?: AppViewQueryOptions
  /** The clock of the lag header, epoch ms. */
  now?: () => number
}

/**
 * The rewriter the proxy consults for the six methods above. `rewrite` answers undefined (send the AppView's bytes)
 * when the AppView gave no rev, the caller wrote nothing after it (or nothing at or before it: a rev that predates
 * the repo), the answer is not what the method's lexicon says, or anything fails; otherwise the munged answer, with
 * `atproto-upstream-lag` when local posts or a profile were read. Reads at most MAX_LOCAL_RECORDS records.
 */
export function createReadAfterWrite(deps: ReadAfterWriteDeps): ResponseRewriter {
  const now = deps.now ?? Date.now
  const viewerDeps: ViewerDeps = {
    source: deps,
    accounts: deps.accounts,
    imageUrl: imageUrlBuilder({ publicUrl: deps.publicUrl, cdnUrlPattern: deps.imageCdnUrlPattern }),
    appView: deps.appView ? appViewQuery(deps.appView) : undefined,
    log: deps.log,
  }
  return {
    methods: new Set(Object.keys(MUNGES)),
    behind: (did, rev) => hasRecordsSinceRev(deps, did, rev),
    async rewrite({ nsid, did, upstreamHeaders, body }) {
      const munge = MUNGES[nsid]
      const rev = upstreamHeaders.get(REPO_REV_HEADER)
      if (!munge || !rev) return undefined
      try {
        const lexicons = await loadLexicons()
        const local = readRecordsSinceRev(deps, lexicons, did, rev)
        // The reference checks the answer only now, so the usual case (the AppView is up to date) costs one query.
        if (local.count === 0 || !isValidOutput(lexicons, nsid, body)) return undefined
        const munged = await munge(new LocalViewer(viewerDeps, lexicons, did), body, local, did)
        const lag = localLag(local, now())
        return lag === undefined ? { body: munged } : { body: munged, headers: { [UPSTREAM_LAG_HEADER]: String(lag) } }
      } catch (err) {
        deps.log.warn({ err, nsid, did }, 'read-after-write: rewrite failed, answering as the AppView did')
        return undefined
      }
    },
    async rewriteError({ nsid, did, params, upstreamHeaders, error }) {
      const rev = upstreamHeaders.get(REPO_REV_HEADER)
      if (nsid !== GET_POST_THREAD || error !== 'NotFound' || !rev) return undefined
      const uri = ownRecordUri(params.get('uri'), did, deps.accounts)
      if (!uri) return undefined
      try {
        const lexicons = await loadLexicons()
        const local = readRecordsSinceRev(deps, lexicons, did, rev)
        const answer = await localPostThread(new LocalViewer(viewerDeps, lexicons, did), uri, local, params.get('parentHeight'))
        if (!answer || !isValidOutput(lexicons, nsid, answer)) return undefined
        const lag = localLag(local, now())
        return lag === undefined ? { body: answer } : { body: answer, headers: { [UPSTREAM_LAG_HEADER]: String(lag) } }
      } catch (err) {
        deps.log.warn({ err, nsid, did }, 'read-after-write: local thread failed, passing the NotFound on')
        return undefined
      }
    },
  }
}

const GET_POST_THREAD = 'app.bsky.feed.getPostThread'

/**
 * `uri` with the caller's DID as its authority when it names the caller (by DID or by their handle, as the
 * reference resolves it); undefined for anyone else's record or a malformed URI.
 */
function ownRecordUri(uri: string | null, did: string, accounts: Pick<AccountStore, 'byDid'>): string | undefined {
  if (!uri) return undefined
  let parsed: AtUri
  try {
    parsed = new AtUri(uri)
  } catch {
    return undefined
  }
  if (parsed.hostname !== did && parsed.hostname.toLowerCase() !== accounts.byDid(did)?.handle) return undefined
  parsed.hostname = did
  return parsed.toString()
}

/** Milliseconds since the oldest local post or profile read was written; undefined when there is none. */
function localLag(local: LocalRecords, nowMs: number): number | undefined {
  const times = [local.profile, ...local.posts].flatMap((r) => (r ? [Date.parse(r.indexedAt)] : []))
  return times.length ? Math.max(0, nowMs - Math.min(...times)) : undefined
}
