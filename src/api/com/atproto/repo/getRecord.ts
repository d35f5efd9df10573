import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { cidString, nsidString, repoParam, rkeyString } from './schemas.ts'
import { findReadableRepo, recordToJson } from './util.ts'

export default defineMethod({
  params: z.object({ repo: repoParam, collection: nsidString, rkey: rkeyString, cid: cidString.optional() }),
  handler: ({ ctx, params }) => {
    const account = findReadableRepo(ctx, params.repo)
    const record = ctx.repo.readRecord(account.did, params.collection, params.rkey)
    if (!record || (params.cid && record.cid !== params.cid)) {
      const uri = `at://${account.did}/${params.collection}/${params.rkey}`
      throw new InvalidRequestError(`Could not locate record: ${uri}`, 'RecordNotFound')
    }
    return { uri: record.uri, cid: record.cid, value: recordToJson(record.value) }
  },
})
