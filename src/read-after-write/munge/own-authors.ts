// Shared by the feed munges: the caller's posts in a feed show the caller's newer profile.
import type { AppBskyFeedDefs } from '@atproto/api'
import type { LocalViewer } from '../local-viewer.ts'
import type { LocalRecord } from '../types.ts'

/**
 * `feed` with the author of every post by `requester` refreshed from `profile` (their profile record newer than
 * the AppView's); the same feed when there is none. Reposts' `reason.by` is left as the AppView has it, as in the
 * reference (getAuthorFeed.js, getActorLikes.js).
 */
export function refreshOwnAuthors(
  viewer: LocalViewer,
  feed: AppBskyFeedDefs.FeedViewPost[],
  profile: LocalRecord | null,
  requester: string,
): AppBskyFeedDefs.FeedViewPost[] {
  if (!profile) return feed
  return feed.map((item) =>
    item.post.author.did === requester
      ? { ...item, post: { ...item.post, author: viewer.updateProfileViewBasic(item.post.author, profile.record) } }
      : item,
  )
}
