// app.bsky.feed.getAuthorFeed: on the caller's own feed, their newer profile on their posts and their newer posts
// added (the reference's getAuthorFeed.js).
import type { AppBskyFeedDefs, AppBskyFeedGetAuthorFeed } from '@atproto/api'
import type { Munge } from '../types.ts'
import { refreshOwnAuthors } from './own-authors.ts'

export const getAuthorFeedMunge: Munge<AppBskyFeedGetAuthorFeed.OutputSchema> = async (
  viewer,
  original,
  local,
  requester,
) => {
  if (!isUsersFeed(original.feed, requester)) return original
  const feed = refreshOwnAuthors(viewer, original.feed, local.profile, requester)
  return { ...original, feed: await viewer.insertPostsInFeed([...feed], local.posts) }
}

/**
 * Whether the feed is the caller's, judged as the reference does, by its first item: the caller's own post, or the
 * caller's repost. So an empty feed, or one opening with a pinned post (`reasonPin`), is left alone.
 */
function isUsersFeed(feed: AppBskyFeedDefs.FeedViewPost[], requester: string): boolean {
  const first = feed.at(0)
  if (!first) return false
  if (!first.reason) return first.post.author.did === requester
  const reason = first.reason as { $type: string; by?: { did?: string } }
  return reason.$type === 'app.bsky.feed.defs#reasonRepost' && reason.by?.did === requester
}
