// Views of the caller's own records, built on this PDS for one rewrite: post views (author, embeds), the caller's
// profileViewBasic, and local posts spliced into a feed by time. Follows the reference's LocalViewer
// (read-after-write/viewer.js: getPost, getProfileBasic, formatAndInsertPostsInFeed).
import type { AppBskyActorDefs, AppBskyFeedDefs } from '@atproto/api'
import type { Lexicons } from '@atproto/lexicon'
import type { AccountStore } from '../account/account-store.ts'
import type { Logger } from '../logger.ts'
import type { AppViewQuery } from './appview-query.ts'
import { postEmbedView, type EmbedContext } from './embed-views.ts'
import type { ImageUrl } from './image-url.ts'
import { readProfileRecord, type LocalRecordSource } from './local-records.ts'
import { localProfileViewBasic, updateProfileDetailed, updateProfileViewBasic } from './profile-views.ts'
import type { JsonObject, LocalRecord } from './types.ts'

/** The services the views read (no HTTP of its own but the optional AppView lookups of quoted records). */
export type ViewerDeps = {
  source: LocalRecordSource
  accounts: Pick<AccountStore, 'byDid'>
  imageUrl: ImageUrl
  appView?: AppViewQuery
  log: Logger
}

export class LocalViewer {
  private readonly deps: ViewerDeps
  private readonly did: string
  private readonly embeds: EmbedContext
  private author?: AppBskyActorDefs.ProfileViewBasic | null

  /** Views for `did`, the caller: every local post is theirs. */
  constructor(deps: ViewerDeps, lexicons: Lexicons, did: string) {
    this.deps = deps
    this.did = did
    this.embeds = { did, lexicons, imageUrl: deps.imageUrl, appView: deps.appView, log: deps.log }
  }

  /** The caller's profileViewBasic from their account and current profile record; null if the account is gone. */
  profileBasic(): AppBskyActorDefs.ProfileViewBasic | null {
    if (this.author === undefined) {
      const account = this.deps.accounts.byDid(this.did)
      const record = account ? readProfileRecord(this.deps.source, this.embeds.lexicons, this.did) : null
      this.author = account ? localProfileViewBasic(this.did, account.handle, record, this.deps.imageUrl) : null
    }
    return this.author
  }

  /** An AppView-view of the caller's profile (as a post author) with `record`'s fields laid over it. */
  updateProfileViewBasic<T extends AppBskyActorDefs.ProfileViewBasic>(view: T, record: JsonObject): T {
    return updateProfileViewBasic(view, record, this.deps.imageUrl)
  }

  /** An AppView-view of the caller's profile (getProfile) with `record`'s fields laid over it. */
  updateProfileDetailed<T extends AppBskyActorDefs.ProfileViewDetailed>(view: T, record: JsonObject): T {
    return updateProfileDetailed(view, record, this.deps.imageUrl)
  }

  /**
   * A post view of a local post: counts are 0 (it was just written), no viewer state or labels (the AppView has not
   * seen it). Null when the author has no account any more.
   */
  async postView(local: LocalRecord): Promise<AppBskyFeedDefs.PostView | null> {
    const author = this.profileBasic()
    if (!author) return null
    const view: AppBskyFeedDefs.PostView = {
      uri: local.uri,
      cid: local.cid,
      author,
      record: local.record,
      likeCount: 0,
      replyCount: 0,
      repostCount: 0,
      quoteCount: 0,
      indexedAt: local.indexedAt,
    }
    const embed = await postEmbedView(this.embeds, local.record.embed)
    if (embed) view.embed = embed
    return view
  }

  /**
   * The AppView's thread above `uri` (getPostThread with depth 0 and the caller's parentHeight), for a local post's
   * parents; undefined when there is no AppView or it fails: the thread then starts at the local post.
   */
  async appViewParents(uri: string, parentHeight: string | null): Promise<unknown> {
    const appView = this.deps.appView
    if (!appView) return undefined
    try {
      const params: Record<string, string> = { uri, depth: '0' }
      if (parentHeight !== null) params.parentHeight = parentHeight
      return ((await appView(this.did, 'app.bsky.feed.getPostThread', params)) as { thread?: unknown })?.thread
    } catch (err) {
      this.deps.log.debug({ err, uri }, 'read-after-write: parents of a local post not found at the AppView')
      return undefined
    }
  }

  /**
   * `feed` with the local `posts` (oldest first) that are newer than its last item inserted, each before the first
   * item older than itself. Older ones belong to a later page. Mutates and returns `feed`.
   */
  async insertPostsInFeed(
    feed: AppBskyFeedDefs.FeedViewPost[],
    posts: LocalRecord[],
  ): Promise<AppBskyFeedDefs.FeedViewPost[]> {
    if (posts.length === 0) return feed
    const lastTime = feed.at(-1)?.post.indexedAt ?? new Date(0).toISOString()
    const newestFirst = posts.filter((p) => p.indexedAt > lastTime).reverse()
    const views = await Promise.all(newestFirst.map((p) => this.postView(p)))
    for (const post of views) {
      if (!post) continue
      const idx = feed.findIndex((item) => item.post.indexedAt < post.indexedAt)
      if (idx >= 0) feed.splice(idx, 0, { post })
      else feed.push({ post })
    }
    return feed
  }
}
