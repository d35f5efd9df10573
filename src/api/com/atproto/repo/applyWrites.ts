import { z } from 'zod'
import { parseCidParam, prepareCreate, prepareDelete, prepareUpdate } from '../../../../repo/prepare.ts'
import { MAX_WRITES_PER_COMMIT } from '../../../../repo/repo-service.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { cidString, nsidString, recordValue, repoParam, rkeyString } from './schemas.ts'
import { assertRepoWrites, repoForWrite } from './util.ts'

const NS = 'com.atproto.repo.applyWrites'
const write = z.discriminatedUnion('$type', [
  z.object({ $type: z.literal(`${NS}#create`), collection: nsidString, rkey: rkeyString.optional(), value: recordValue }),
  z.object({ $type: z.literal(`${NS}#update`), collection: nsidString, rkey: rkeyString, value: recordValue }),
  z.object({ $type: z.literal(`${NS}#delete`), collection: nsidString, rkey: rkeyString }),
])

const input = z.object({
  repo: repoParam,
  validate: z.boolean().optional(),
  writes: z.array(write).max(MAX_WRITES_PER_COMMIT, `at most ${MAX_WRITES_PER_COMMIT} writes`),
  swapCommit: cidString.optional(),
})

export default defineMethod({
  input,
  handler: async ({ ctx, auth, input }) => {
    const account = repoForWrite(ctx, auth, input.repo)
    assertRepoWrites(auth, input.writes.map((w) => ({ action: actionOf(w.$type), collection: w.collection })))
    const did = account.did
    const validate = input.validate
    const prepared = await Promise.all(
      input.writes.map((w) => {
        if (w.$type === `${NS}#create`) return prepareCreate({ did, collection: w.collection, rkey: w.rkey, record: w.value, validate })
        if (w.$type === `${NS}#update`) return prepareUpdate({ did, collection: w.collection, rkey: w.rkey, record: w.value, validate })
        return prepareDelete({ did, collection: w.collection, rkey: w.rkey })
      }),
    )
    const swapCommit = input.swapCommit ? parseCidParam(input.swapCommit, 'swapCommit') : undefined
    const { commit, results } = await ctx.repo.applyWrites(did, prepared, swapCommit)
    return {
      commit: commit ?? undefined,
      results: results.map((r) =>
        r.action === 'delete'
          ? { $type: `${NS}#deleteResult` }
          : { $type: `${NS}#${r.action}Result`, uri: r.uri, cid: r.cid, validationStatus: r.validationStatus },
      ),
    }
  },
})

/** `create`, `update` or `delete`, from a write's `$type`. */
function actionOf(type: string): 'create' | 'update' | 'delete' {
  return type === `${NS}#create` ? 'create' : type === `${NS}#update` ? 'update' : 'delete'
}
