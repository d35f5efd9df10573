import { z } from 'zod'
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
    const records = ctx.repo.readValues(account.did, rows).map((r) => ({ ...r, value: recordToJson(r.value) }))
    return { records, cursor: rows.length === params.limit ? rows.at(-1)!.rkey : undefined }
  },
})
