import { z } from 'zod'
import { repoStatusOf } from '../../../../account/account-status.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { assertCrawlEnabled, repoNotFound } from './util.ts'

/** Status of any hosted repo, inactive ones included; `rev` only while active. */
export default defineMethod({
  params: z.object({ did }),
  handler: ({ ctx, params }) => {
    assertCrawlEnabled(ctx)
    const account = ctx.accounts.store.byDid(params.did)
    if (!account) throw repoNotFound(params.did)
    const status = repoStatusOf(account)
    const rev = status.active ? ctx.repo.reader.root(params.did)?.rev : undefined
    return { did: params.did, active: status.active, status: status.status, rev }
  },
})
