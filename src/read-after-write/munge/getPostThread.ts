// app.bsky.feed.getPostThread: the caller's newer replies join the thread under their parents (the reference's
// getPostThread.js, getPostThreadMunge). Only the replies below the anchor post are searched, as in the reference.
import type { $Typed, AppBskyFeedDefs, AppBskyFeedGetPostThread } from '@atproto/api'
import type { LocalViewer } from '../local-viewer.ts'
import type { LocalRecord, LocalRecords, Munge } from '../types.ts'

type ThreadViewPost = $Typed<AppBskyFeedDefs.ThreadViewPost>

export const getPostThreadMunge: Munge<AppBskyFeedGetPostThread.OutputSchema> = async (viewer, original, local) => {
  // A not-found or blocked anchor stays as the AppView says.
  if (!isThreadViewPost(original.thread)) return original
  return { ...original, thread: await addPostsToThread(viewer, original.thread, local.posts) }
}

/**
 * The thread of the caller's own post `uri`, which the AppView answered NotFound for (not indexed yet), built from
 * local records: the post, the caller's newer replies under it, and above it the AppView's thread of its parent if
 * it has one. Null when `uri` is not among the local posts (the AppView's NotFound stands). The reference's
 * readAfterWriteNotFound (getPostThread.js).
 */
export async function localPostThread(
  viewer: LocalViewer,
  uri: string,
  local: LocalRecords,
  parentHeight: string | null,
): Promise<AppBskyFeedGetPostThread.OutputSchema | null> {
  const found = local.posts.find((p) => p.uri === uri)
  if (!found) return null
  const post = await viewer.postView(found)
  if (!post) return null
  const anchor: ThreadViewPost = { $type: 'app.bsky.feed.defs#threadViewPost', post }
  const thread = await addPostsToThread(viewer, anchor, local.posts.filter((p) => p !== found))
  const parentUri = replyRefs(found.record).parent
  const parent = parentUri ? await viewer.appViewParents(parentUri, parentHeight) : undefined
  if (isThreadUnionMember(parent)) thread.parent = parent
  return { thread }
}

/** What a thread's `parent` may hold: a post's thread, or a not-found or blocked post. */
function isThreadUnionMember(v: unknown): v is ThreadViewPost {
  const type = (v as { $type?: unknown } | undefined)?.$type
  return (
    type === 'app.bsky.feed.defs#threadViewPost' ||
    type === 'app.bsky.feed.defs#notFoundPost' ||
    type === 'app.bsky.feed.defs#blockedPost'
  )
}

function isThreadViewPost(v: unknown): v is ThreadViewPost {
  return (v as { $type?: unknown } | undefined)?.$type === 'app.bsky.feed.defs#threadViewPost'
}

/** A post record's reply refs (the AppView's records are unchecked `unknown`s, hence the optional chain). */
function replyRefs(record: unknown): { root?: string; parent?: string } {
  const reply = (record as { reply?: { root?: { uri?: unknown }; parent?: { uri?: unknown } } } | undefined)?.reply
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
  return { root: str(reply?.root?.uri), parent: str(reply?.parent?.uri) }
}

/** `thread` with each local post (oldest first) that replies into it added under its parent. */
async function addPostsToThread(viewer: LocalViewer, thread: ThreadViewPost, posts: LocalRecord[]): Promise<ThreadViewPost> {
  // Posts of this thread: their root is the anchor, or the anchor's own root.
  const anchorRoot = replyRefs(thread.post.record).root
  const inThread = posts.filter((p) => {
    const root = replyRefs(p.record).root
    return root !== undefined && (root === thread.post.uri || root === anchorRoot)
  })
  for (const post of inThread) thread = await insertIntoReplies(viewer, thread, post)
  return thread
}

/**
 * `view` with `post` put first among the replies of its parent, searched depth-first below `view`; unchanged when the
 * parent is not there. The post's view is built only once its parent is found.
 */
async function insertIntoReplies(viewer: LocalViewer, view: ThreadViewPost, post: LocalRecord): Promise<ThreadViewPost> {
  if (replyRefs(post.record).parent === view.post.uri) {
    const postView = await viewer.postView(post)
    if (!postView) return view
    const reply: ThreadViewPost = { $type: 'app.bsky.feed.defs#threadViewPost', post: postView }
    return { ...view, replies: [reply, ...(view.replies ?? [])] }
  }
  if (!view.replies) return view
  const replies = await Promise.all(
    view.replies.map((r) => (isThreadViewPost(r) ? insertIntoReplies(viewer, r, post) : r)),
  )
  return { ...view, replies }
}
