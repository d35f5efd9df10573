import { z } from 'zod'
import { MAX_LIST_RECORDS_BYTES } from '../../../../repo/repo-service.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { queryInt } from '../../../../xrpc/schemas.ts'
import { nsidString, repoParam, rkeyString } from './schemas.ts'
import { findReadableRepo, recordToJson } from './util.ts'

const params = z.object({
  repo: repoParam,
  collection: nsidString,
  limit: queryInt(1, 100).default(50),
  cursor: rkeyString.optional(),
  reverse: z.enum(['true', 'false']).optional(),
})

export default defineMethod({
  params,
  handler: ({ ctx, params }) => {
    const account = findReadableRepo(ctx, params.repo)
    const rows = ctx.records.list(account.did, params.collection, {
      limit: params.limit,
      cursor: params.cursor,
      reverse: params.reverse === 'true',
    })
    // A page of large records stops early (MAX_LIST_RECORDS_BYTES); its cursor then points after the last one sent.
    const values = ctx.repo.readValues(account.did, rows, MAX_LIST_RECORDS_BYTES)
    const records = values.map((r) => ({ ...r, value: recordToJson(r.value) }))
    const more = values.length < rows.length || rows.length === params.limit
    return { records, cursor: more ? rows[values.length - 1].rkey : undefined }
  },
})
