// app.bsky.feed.getTimeline: the caller's newer posts join their timeline (the reference's getTimeline.js).
import type { AppBskyFeedGetTimeline } from '@atproto/api'
import type { Munge } from '../types.ts'

export const getTimelineMunge: Munge<AppBskyFeedGetTimeline.OutputSchema> = async (viewer, original, local) => {
  const feed = await viewer.insertPostsInFeed([...original.feed], local.posts)
  return { ...original, feed }
}
