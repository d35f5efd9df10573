import { z } from 'zod'
import { RawOutput, defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { CAR_TYPE, availableRepo, repoNotFound } from './util.ts'

/** Deprecated: getRepo without `since`. */
export default defineMethod({
  params: z.object({ did }),
  handler: ({ ctx, auth, params }) => {
    availableRepo(ctx, auth, params.did)
    const car = ctx.repo.exportCar(params.did)
    if (!car) throw repoNotFound(params.did)
    return new RawOutput(CAR_TYPE, car.stream)
  },
})
