import { InvalidRequestError } from '../../../../errors.ts'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

/**
 * What a migrating account has here so far, as the reference reports it: its repo, records and blobs, whether it is
 * activated, and whether its DID document points at this PDS with its key. Works while deactivated.
 */
export default defineMethod({
  handler: async ({ ctx, auth }) => {
    const did = userOf(auth).did
    const root = ctx.repo.root(did)
    if (!root) throw new InvalidRequestError(`Could not find repo for DID: ${did}`)
    return {
      activated: ctx.accountStatus.isActivated(did),
      validDid: await ctx.accountStatus.didDocIsValid(did),
      repoCommit: root.cid.toString(),
      repoRev: root.rev,
      repoBlocks: ctx.repo.blockCount(did),
      indexedRecords: ctx.records.count(did),
      privateStateValues: 0,
      expectedBlobs: ctx.blobs.countReferenced(did),
      importedBlobs: ctx.blobs.count(did),
    }
  },
})
