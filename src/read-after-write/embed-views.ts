// Embed views for the caller's own posts, built from the post record: images and link cards point at image URLs, a
// quoted post, feed or list is asked of the AppView. Follows the reference's LocalViewer.formatPostEmbed and what it
// calls (read-after-write/viewer.js): the same four embed types (video and others get no view), the same lookups.
import type {
  $Typed,
  AppBskyEmbedExternal,
  AppBskyEmbedImages,
  AppBskyEmbedRecord,
  AppBskyEmbedRecordWithMedia,
  AppBskyFeedGetFeedGenerator,
  AppBskyFeedGetPosts,
  AppBskyGraphGetList,
} from '@atproto/api'
import type { Lexicons } from '@atproto/lexicon'
import { AtUri } from '@atproto/syntax'
import type { Logger } from '../logger.ts'
import type { AppViewQuery } from './appview-query.ts'
import { blobCid, type ImageUrl } from './image-url.ts'
import { isValidOutput } from './lexicon-output.ts'

export type EmbedContext = {
  /** The author of the posts (the caller): image URLs name their blobs under this DID. */
  did: string
  imageUrl: ImageUrl
  lexicons: Lexicons
  /** Absent: quoted records show as not found, as in the reference when no AppView is configured. */
  appView?: AppViewQuery
  log: Logger
}

export type EmbedView =
  | $Typed<AppBskyEmbedImages.View>
  | $Typed<AppBskyEmbedExternal.View>
  | $Typed<AppBskyEmbedRecord.View>
  | $Typed<AppBskyEmbedRecordWithMedia.View>

// The embeds of a post record as lexicon JSON (the record passed its lexicon, so these fields are there).
type ImagesEmbed = { images: { image: unknown; alt: string; aspectRatio?: { width: number; height: number } }[] }
type ExternalEmbed = { external: { uri: string; title: string; description: string; thumb?: unknown } }
type RecordEmbed = { record: { uri: string; cid: string } }
type RecordWithMediaEmbed = { record: RecordEmbed; media: { $type?: string } }

/** The view of a post record's `embed`; undefined for none or a type the reference does not build either. */
export async function postEmbedView(ctx: EmbedContext, embed: unknown): Promise<EmbedView | undefined> {
  if (!embed || typeof embed !== 'object') return undefined
  switch ((embed as { $type?: unknown }).$type) {
    case 'app.bsky.embed.images':
      return imagesView(ctx, embed as ImagesEmbed)
    case 'app.bsky.embed.external':
      return externalView(ctx, embed as ExternalEmbed)
    case 'app.bsky.embed.record':
      return recordView(ctx, embed as RecordEmbed)
    case 'app.bsky.embed.recordWithMedia':
      return recordWithMediaView(ctx, embed as RecordWithMediaEmbed)
    default:
      return undefined
  }
}

/** A blob ref's CID; the record passed its lexicon, so a missing one is a bug worth failing the rewrite for. */
function cidOf(ref: unknown): string {
  const cid = blobCid(ref)
  if (!cid) throw new Error('blob ref without a CID in a validated record')
  return cid
}

function imagesView(ctx: EmbedContext, embed: ImagesEmbed): $Typed<AppBskyEmbedImages.View> {
  const images = embed.images.map((img) => {
    const cid = cidOf(img.image)
    return {
      thumb: ctx.imageUrl('feed_thumbnail', ctx.did, cid),
      fullsize: ctx.imageUrl('feed_fullsize', ctx.did, cid),
      alt: img.alt,
      ...(img.aspectRatio ? { aspectRatio: img.aspectRatio } : {}),
    }
  })
  return { $type: 'app.bsky.embed.images#view', images }
}

function externalView(ctx: EmbedContext, embed: ExternalEmbed): $Typed<AppBskyEmbedExternal.View> {
  const { uri, title, description, thumb } = embed.external
  const external: AppBskyEmbedExternal.ViewExternal = { uri, title, description }
  if (thumb) external.thumb = ctx.imageUrl('feed_thumbnail', ctx.did, cidOf(thumb))
  return { $type: 'app.bsky.embed.external#view', external }
}

async function recordView(ctx: EmbedContext, embed: RecordEmbed): Promise<$Typed<AppBskyEmbedRecord.View>> {
  const { uri } = embed.record
  const record = (await quotedRecordView(ctx, uri)) ?? {
    $type: 'app.bsky.embed.record#viewNotFound' as const,
    uri,
    notFound: true as const,
  }
  return { $type: 'app.bsky.embed.record#view', record }
}

async function recordWithMediaView(
  ctx: EmbedContext,
  embed: RecordWithMediaEmbed,
): Promise<$Typed<AppBskyEmbedRecordWithMedia.View> | undefined> {
  const { media } = embed
  const mediaView =
    media.$type === 'app.bsky.embed.images'
      ? imagesView(ctx, media as ImagesEmbed)
      : media.$type === 'app.bsky.embed.external'
        ? externalView(ctx, media as ExternalEmbed)
        : undefined
  // Video and other media: no view at all, as in the reference.
  if (!mediaView) return undefined
  return { $type: 'app.bsky.embed.recordWithMedia#view', record: await recordView(ctx, embed.record), media: mediaView }
}

type QuotedView = AppBskyEmbedRecord.View['record']

/** How to ask the AppView for a quoted record of each collection the reference looks up, and shape its answer. */
const QUOTED: Record<string, { nsid: string; params: (uri: string) => Record<string, string>; view: (answer: any) => QuotedView | undefined }> = {
  'app.bsky.feed.post': {
    nsid: 'app.bsky.feed.getPosts',
    params: (uri) => ({ uris: uri }),
    view: (answer: AppBskyFeedGetPosts.OutputSchema) => {
      const post = answer.posts[0]
      if (!post) return undefined
      const view: $Typed<AppBskyEmbedRecord.ViewRecord> = {
        $type: 'app.bsky.embed.record#viewRecord',
        uri: post.uri,
        cid: post.cid,
        author: post.author,
        value: post.record,
        indexedAt: post.indexedAt,
      }
      if (post.labels) view.labels = post.labels
      if (post.embed) view.embeds = [post.embed]
      return view
    },
  },
  'app.bsky.feed.generator': {
    nsid: 'app.bsky.feed.getFeedGenerator',
    params: (uri) => ({ feed: uri }),
    view: (answer: AppBskyFeedGetFeedGenerator.OutputSchema) => ({ ...answer.view, $type: 'app.bsky.feed.defs#generatorView' }),
  },
  'app.bsky.graph.list': {
    nsid: 'app.bsky.graph.getList',
    // The list's view is all we use: one item rather than the default fifty.
    params: (uri) => ({ list: uri, limit: '1' }),
    view: (answer: AppBskyGraphGetList.OutputSchema) => ({ ...answer.list, $type: 'app.bsky.graph.defs#listView' }),
  },
}

/**
 * The AppView's view of a quoted record; undefined when there is no AppView, the collection is not one the reference
 * looks up, or the AppView does not answer with a lexicon-valid view. The reference fails the whole rewrite when the
 * AppView call fails; showing the post with its quote "not found" is kinder, and the AppView soon has it anyway.
 */
async function quotedRecordView(ctx: EmbedContext, uri: string): Promise<QuotedView | undefined> {
  if (!ctx.appView) return undefined
  const lookup = QUOTED[new AtUri(uri).collection]
  if (!lookup) return undefined
  let answer: unknown
  try {
    answer = await ctx.appView(ctx.did, lookup.nsid, lookup.params(uri))
  } catch (err) {
    ctx.log.warn({ err, uri, nsid: lookup.nsid }, 'read-after-write: quoted record lookup failed')
    return undefined
  }
  if (isValidOutput(ctx.lexicons, lookup.nsid, answer)) return lookup.view(answer)
  ctx.log.warn({ uri, nsid: lookup.nsid }, 'read-after-write: the AppView answered a quoted record lookup with a malformed view')
  return undefined
}
