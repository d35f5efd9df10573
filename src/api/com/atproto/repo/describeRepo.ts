import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { didDocFor } from '../server/session-output.ts'
import { repoParam } from './schemas.ts'
import { findReadableRepo } from './util.ts'

export default defineMethod({
  params: z.object({ repo: repoParam }),
  handler: async ({ ctx, params }) => {
    const account = findReadableRepo(ctx, params.repo)
    const didDoc = await didDocFor(ctx, account.did)
    // The handle is correct when the DID document claims it back.
    const aka = (didDoc?.alsoKnownAs as string[] | undefined) ?? []
    return {
      handle: account.handle,
      did: account.did,
      didDoc,
      collections: ctx.records.collections(account.did),
      handleIsCorrect: aka.includes(`at://${account.handle}`),
    }
  },
})
