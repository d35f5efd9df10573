// app.bsky.feed.getActorLikes: the caller's posts among the liked ones show their newer profile. Newer likes are
// not added: the reference (getActorLikes.js) does only this.
import type { AppBskyFeedGetActorLikes } from '@atproto/api'
import type { Munge } from '../types.ts'
import { refreshOwnAuthors } from './own-authors.ts'

export const getActorLikesMunge: Munge<AppBskyFeedGetActorLikes.OutputSchema> = async (
  viewer,
  original,
  local,
  requester,
) => ({ ...original, feed: refreshOwnAuthors(viewer, original.feed, local.profile, requester) })
