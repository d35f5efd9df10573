import { userOf } from '../../../../xrpc/auth.ts'
import { PayloadTooLargeError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { repoForWrite } from './util.ts'

export default defineMethod({
  rawInput: true,
  handler: async ({ ctx, auth, req }) => {
    const did = userOf(auth).did
    // Same rule as record writes: an inactive account stores nothing new.
    repoForWrite(ctx, auth, did)
    const limit = ctx.cfg.blobUploadLimit
    // Refuse early when the client says up front that it is too big; the stream is metered either way.
    if (Number(req.headers['content-length'] ?? 0) > limit) throw new PayloadTooLargeError(`Blob is larger than ${limit} bytes`)
    const mimeType = (req.headers['content-type'] ?? '').split(';')[0].trim() || 'application/octet-stream'
    const blob = await ctx.blobStore.upload(did, req, mimeType, limit)
    return { blob: { $type: 'blob', ref: { $link: blob.cid }, mimeType: blob.mimeType, size: blob.size } }
  },
})
