import { z } from 'zod'
import { parseCidParam, prepareDelete } from '../../../../repo/prepare.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { cidString, nsidString, repoParam, rkeyString } from './schemas.ts'
import { assertRepoWrites, repoForWrite } from './util.ts'

const input = z.object({
  repo: repoParam,
  collection: nsidString,
  rkey: rkeyString,
  swapRecord: cidString.optional(),
  swapCommit: cidString.optional(),
})

export default defineMethod({
  input,
  handler: async ({ ctx, auth, input }) => {
    const account = repoForWrite(ctx, auth, input.repo)
    assertRepoWrites(auth, [{ action: 'delete', collection: input.collection }])
    const write = prepareDelete({ did: account.did, ...input })
    const swapCommit = input.swapCommit ? parseCidParam(input.swapCommit, 'swapCommit') : undefined
    // Deleting a record that is not there is a no-op, as in the reference (unless a swap was asked for).
    if (!ctx.records.get(account.did, write.collection, write.rkey) && write.swapCid === undefined && !swapCommit) {
      return {}
    }
    const { commit } = await ctx.repo.applyWrites(account.did, [write], swapCommit)
    return { commit: commit ?? undefined }
  },
})
