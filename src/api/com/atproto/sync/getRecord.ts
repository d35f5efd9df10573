import { isValidNsid, isValidRecordKey } from '@atproto/syntax'
import { z } from 'zod'
import { RawOutput, defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { CAR_TYPE, availableRepo, repoNotFound } from './util.ts'

/**
 * A CAR proving one record under the current commit, or proving it absent (the reference answers a missing record
 * with the proof of absence rather than RecordNotFound). The deprecated `commit` parameter is accepted and ignored.
 */
export default defineMethod({
  params: z.object({
    did,
    collection: z.string().refine((s) => isValidNsid(s), { message: 'must be a valid NSID' }),
    rkey: z.string().refine((s) => isValidRecordKey(s), { message: 'must be a valid record key' }),
    commit: z.string().optional(),
  }),
  handler: ({ ctx, auth, params }) => {
    availableRepo(ctx, auth, params.did)
    const proof = ctx.repo.reader.recordProof(params.did, params.collection, params.rkey)
    if (!proof) throw repoNotFound(params.did)
    return new RawOutput(CAR_TYPE, proof.car)
  },
})
