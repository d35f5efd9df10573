import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { availableRepo, repoNotFound } from './util.ts'

export default defineMethod({
  params: z.object({ did }),
  handler: ({ ctx, auth, params }) => {
    availableRepo(ctx, auth, params.did)
    const root = ctx.repo.reader.root(params.did)
    if (!root) throw repoNotFound(params.did)
    return { cid: root.cid.toString(), rev: root.rev }
  },
})
