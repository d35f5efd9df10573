import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { queryInt } from '../../../../xrpc/schemas.ts'
import { cid } from '../sync/util.ts'

/** How many referenced blobs one request checks on disk at most; the cursor carries on from there. */
const SCAN_LIMIT = 5000
const BATCH = 500

/**
 * Blobs the caller's records use but this PDS does not have (no row, or no file): what a migrating account still
 * has to upload. A page may come back short, even empty, with a cursor when the scan budget ran out first.
 */
export default defineMethod({
  params: z.object({ limit: queryInt(1, 1000).default(500), cursor: cid.optional() }),
  handler: async ({ ctx, auth, params }) => {
    const did = userOf(auth).did
    const blobs: { cid: string; recordUri: string }[] = []
    let after = params.cursor?.toString() ?? ''
    let scanned = 0
    for (;;) {
      const rows = ctx.blobs.listReferencedWithRecord(did, after, BATCH)
      for (const row of rows) {
        after = row.cid
        scanned += 1
        if (row.stored && (await ctx.blobStore.exists(did, row.cid))) continue
        blobs.push({ cid: row.cid, recordUri: row.recordUri })
        if (blobs.length === params.limit) return { blobs, cursor: after }
      }
      if (rows.length < BATCH) return { blobs }
      if (scanned >= SCAN_LIMIT) return { blobs, cursor: after }
    }
  },
})
