import { z } from 'zod'
import { parseCidParam, prepareCreate } from '../../../../repo/prepare.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { cidString, nsidString, recordValue, repoParam, rkeyString } from './schemas.ts'
import { assertRepoWrites, repoForWrite } from './util.ts'

const input = z.object({
  repo: repoParam,
  collection: nsidString,
  rkey: rkeyString.optional(),
  validate: z.boolean().optional(),
  record: recordValue,
  swapCommit: cidString.optional(),
})

export default defineMethod({
  input,
  handler: async ({ ctx, auth, input }) => {
    const account = repoForWrite(ctx, auth, input.repo)
    assertRepoWrites(auth, [{ action: 'create', collection: input.collection }])
    const write = await prepareCreate({ did: account.did, ...input })
    const swapCommit = input.swapCommit ? parseCidParam(input.swapCommit, 'swapCommit') : undefined
    const { commit } = await ctx.repo.applyWrites(account.did, [write], swapCommit)
    return { uri: write.uri, cid: write.cid.toString(), commit, validationStatus: write.validationStatus }
  },
})
