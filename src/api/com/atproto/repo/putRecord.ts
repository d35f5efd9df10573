import { z } from 'zod'
import { parseCidParam, prepareUpdate } from '../../../../repo/prepare.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { cidString, nsidString, recordValue, repoParam, rkeyString } from './schemas.ts'
import { assertRepoWrites, repoForWrite } from './util.ts'

const input = z.object({
  repo: repoParam,
  collection: nsidString,
  rkey: rkeyString,
  validate: z.boolean().optional(),
  record: recordValue,
  swapRecord: cidString.nullable().optional(),
  swapCommit: cidString.optional(),
})

export default defineMethod({
  input,
  handler: async ({ ctx, auth, input }) => {
    const account = repoForWrite(ctx, auth, input.repo)
    // An upsert: the reference asks for both, whether or not the record exists.
    assertRepoWrites(auth, [
      { action: 'create', collection: input.collection },
      { action: 'update', collection: input.collection },
    ])
    const write = await prepareUpdate({ did: account.did, ...input, upsert: true })
    const swapCommit = input.swapCommit ? parseCidParam(input.swapCommit, 'swapCommit') : undefined
    const { commit } = await ctx.repo.applyWrites(account.did, [write], swapCommit)
    // `commit` is absent when the record was already exactly this (nothing to commit), as in the reference.
    return { uri: write.uri, cid: write.cid.toString(), commit: commit ?? undefined, validationStatus: write.validationStatus }
  },
})
