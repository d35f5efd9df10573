import { declaredMimeType } from '../../../../blob/mime-type.ts'
import { PayloadTooLargeError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { ownAccountForUpload } from './util.ts'

export default defineMethod({
  rawInput: true,
  handler: async ({ ctx, auth, req }) => {
    // A deactivated account may upload, as in the reference: one migrating here brings its blobs before activating.
    const { did } = ownAccountForUpload(ctx, auth)
    const limit = ctx.cfg.blobUploadLimit
    // Refuse early when the client says up front that it is too big; the stream is metered either way.
    if (Number(req.headers['content-length'] ?? 0) > limit) throw new PayloadTooLargeError(`Blob is larger than ${limit} bytes`)
    // The bytes decide the type; the header only counts when they say nothing, and never as a wildcard.
    const blob = await ctx.blobStore.upload(did, req, declaredMimeType(req.headers['content-type']), limit)
    // The stored type: a record's ref must carry exactly this one.
    return { blob: { $type: 'blob', ref: { $link: blob.cid }, mimeType: blob.mimeType, size: blob.size } }
  },
})
