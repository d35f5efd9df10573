import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { availableRepo } from './util.ts'

/** Deprecated: getLatestCommit's CID alone. */
export default defineMethod({
  params: z.object({ did }),
  handler: ({ ctx, auth, params }) => {
    availableRepo(ctx, auth, params.did)
    const root = ctx.repo.reader.root(params.did)
    if (!root) throw new InvalidRequestError(`Could not find root for DID: ${params.did}`, 'HeadNotFound')
    return { root: root.cid.toString() }
  },
})
