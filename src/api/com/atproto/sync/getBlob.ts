import { z } from 'zod'
import { FALLBACK_MIME_TYPE, isConcreteMimeType } from '../../../../blob/mime-type.ts'
import { PdsError } from '../../../../errors.ts'
import { RawOutput, defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { availableBlobRepo, cid } from './util.ts'

const blobNotFound = () => new PdsError('notFound', 'BlobNotFound', 'Blob not found')

/** A stored blob's bytes, when a record of this repo uses it; served so that no browser renders or runs it. */
export default defineMethod({
  params: z.object({ did, cid }),
  handler: async ({ ctx, auth, params }) => {
    availableBlobRepo(ctx, auth, params.did)
    const key = params.cid.toString()
    const blob = ctx.blobs.get(params.did, key)
    if (!blob || !ctx.blobs.isReferenced(params.did, key)) throw blobNotFound()
    const stream = await ctx.blobStore.open(params.did, key)
    if (!stream) throw blobNotFound()
    return new RawOutput(safeMimeType(blob.mime_type), stream, {
      'Content-Length': String(blob.size),
      'X-Content-Type-Options': 'nosniff',
      'Content-Disposition': `attachment; filename="${key}"`,
      'Content-Security-Policy': "default-src 'none'; sandbox",
    })
  },
})

// Uploads store sniffed, concrete types, but rows from before that may hold a wildcard or anything a client sent (and
// Express would take a type without a slash for a file extension).
function safeMimeType(mimeType: string): string {
  return isConcreteMimeType(mimeType) ? mimeType : FALLBACK_MIME_TYPE
}
