import { z } from 'zod'
import { carFile } from '../../../../protocol/car.ts'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { RawOutput, defineMethod } from '../../../../xrpc/method.ts'
import { did, queryList } from '../../../../xrpc/schemas.ts'
import { CAR_TYPE, availableRepo, cid } from './util.ts'

/** The asked blocks of one repo as a root-less CAR; any CID the repo does not hold fails the whole request. */
export default defineMethod({
  params: z.object({
    did,
    cids: queryList(cid, 1),
  }),
  handler: ({ ctx, auth, params }) => {
    availableRepo(ctx, auth, params.did)
    const { found, missing } = ctx.repo.reader.blocks(params.did, params.cids)
    if (missing.length) {
      throw new InvalidRequestError(`Could not find cids: ${missing.map((c) => c.toString()).join(',')}`, 'BlockNotFound')
    }
    return new RawOutput(CAR_TYPE, carFile(null, found))
  },
})
