// getFeed's service token is not for the AppView but for the feed generator behind the feed: the AppView hands it
// on to the generator's getFeedSkeleton, and generators that personalise a feed (or check who asks) verify it there.
// The generator's DID comes from the AppView's getFeedGenerator, as in the reference's api/app/bsky/feed/getFeed.js.
import { isValidDid } from '@atproto/syntax'
import { InvalidRequestError, UpstreamFailureError } from '../errors.ts'
import type { ServiceAuth } from '../identity/service-auth.ts'
import { bufferAtMost } from './rewriter.ts'
import type { ServiceTarget } from './targets.ts'
import type { UpstreamTransport } from './upstream.ts'
import { upstreamResponseError } from './upstream-error.ts'

export const GET_FEED = 'app.bsky.feed.getFeed'
/** The method the generator's token is scoped to (its `lxm`). */
export const GET_FEED_SKELETON = 'app.bsky.feed.getFeedSkeleton'
const GET_FEED_GENERATOR = 'app.bsky.feed.getFeedGenerator'
/** A generator view is a few KiB; anything much larger is not one. */
const MAX_ANSWER_BYTES = 256 * 1024

export type FeedGeneratorLookup = {
  transport: UpstreamTransport
  serviceAuth: Pick<ServiceAuth, 'create'>
  /** The account asking (the lookup is signed for it, as every AppView call). */
  iss: string
  appView: ServiceTarget
  /** The `feed` param of getFeed: an at:// URI of an app.bsky.feed.generator record. */
  feed: string | null
  timeoutMs: number
}

/**
 * The DID of the generator serving `feed`, from the AppView's `view.did`. Throws InvalidRequest without a feed,
 * the AppView's own XRPC error when it refuses (an unknown feed), and UpstreamFailure (502) for an answer that is
 * not a generator view, besides the transport's errors (502/504).
 */
export async function feedGeneratorDid(l: FeedGeneratorLookup): Promise<string> {
  if (!l.feed) throw new InvalidRequestError('Params must have the property "feed"')
  const url = new URL(`/xrpc/${GET_FEED_GENERATOR}`, l.appView.url)
  url.searchParams.set('feed', l.feed)
  const upstream = await l.transport.send({
    url,
    method: 'GET',
    headers: {
      accept: 'application/json',
      authorization: `Bearer ${await l.serviceAuth.create(l.iss, l.appView.did, GET_FEED_GENERATOR)}`,
    },
    guarded: l.appView.guarded,
    timeoutMs: l.timeoutMs,
  })
  if ((upstream.statusCode ?? 502) >= 400) throw await upstreamResponseError(upstream)
  const answer = await bufferAtMost(upstream, MAX_ANSWER_BYTES)
  if (!answer.complete) {
    upstream.destroy()
    throw new UpstreamFailureError(`${GET_FEED_GENERATOR} answer over ${MAX_ANSWER_BYTES} bytes`)
  }
  let did: unknown
  try {
    did = (JSON.parse(answer.body.toString('utf8')) as { view?: { did?: unknown } })?.view?.did
  } catch {}
  if (typeof did !== 'string' || !isValidDid(did)) {
    throw new UpstreamFailureError(`${GET_FEED_GENERATOR} did not name the generator of ${l.feed}`)
  }
  return did
}
