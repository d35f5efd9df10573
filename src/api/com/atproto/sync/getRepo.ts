import { z } from 'zod'
import { RawOutput, defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { CAR_TYPE, availableRepo, repoNotFound, rev } from './util.ts'

/** The repo as a CAR, streamed from a snapshot: all of it, or the blocks written after `since`. */
export default defineMethod({
  params: z.object({ did, since: rev.optional() }),
  handler: ({ ctx, auth, params }) => {
    availableRepo(ctx, auth, params.did)
    const car = ctx.repo.exportCar(params.did, params.since)
    if (!car) throw repoNotFound(params.did)
    return new RawOutput(CAR_TYPE, car.stream)
  },
})
