// Where views point images: the AppView's CDN when its URL pattern is configured, else this PDS's own getBlob.
// Follows the reference's ImageUrlBuilder (image/image-url-builder.js) and BskyAppView.getImageUrl.
import { format } from 'node:util'
import { trimSlash } from '../util/net.ts'

/** The CDN presets the reference asks for. */
export type ImagePreset = 'avatar' | 'banner' | 'feed_thumbnail' | 'feed_fullsize'

/** The URL of blob `cid` of `did`, shown as `preset`. */
export type ImageUrl = (preset: ImagePreset, did: string, cid: string) => string

/**
 * `cdnUrlPattern`: a printf pattern filled with preset, DID and CID in that order, as the reference's
 * `PDS_BSKY_APP_VIEW_CDN_URL_PATTERN` (Bluesky's: `https://cdn.bsky.app/img/%s/plain/%s/%s@jpeg`). Without one,
 * `<publicUrl>/xrpc/com.atproto.sync.getBlob?did=…&cid=…` (the reference uses `https://<hostname>`, which is the
 * same URL in production and also right in dev).
 */
export function imageUrlBuilder(opts: { publicUrl: string; cdnUrlPattern?: string }): ImageUrl {
  const { cdnUrlPattern } = opts
  const base = trimSlash(opts.publicUrl)
  if (cdnUrlPattern) return (preset, did, cid) => format(cdnUrlPattern, preset, did, cid)
  return (_preset, did, cid) => `${base}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`
}

/** The CID of a blob ref in lexicon JSON (`{ $type: 'blob', ref: { $link } }`, or the legacy `{ cid, mimeType }`). */
export function blobCid(ref: unknown): string | undefined {
  if (!ref || typeof ref !== 'object') return undefined
  const { ref: link, cid } = ref as { ref?: { $link?: unknown }; cid?: unknown }
  if (typeof link?.$link === 'string') return link.$link
  return typeof cid === 'string' ? cid : undefined
}
