import { AtUri } from '@atproto/syntax'
import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'
import { cid } from '../sync/util.ts'

const notFound = () => new InvalidRequestError('Subject not found', 'NotFound')

/** An account's takedown and deactivation; records and blobs, which cannot be taken down here, report not applied. */
export default defineMethod({
  params: z.object({ did: did.optional(), uri: z.string().optional(), blob: cid.optional() }),
  handler: ({ ctx, params }) => {
    if (params.blob) {
      if (!params.did) throw new InvalidRequestError('Must provide a did to request blob state')
      const blob = params.blob.toString()
      if (!ctx.blobs.get(params.did, blob)) throw notFound()
      return { subject: { $type: 'com.atproto.admin.defs#repoBlobRef', did: params.did, cid: blob }, takedown: { applied: false } }
    }
    if (params.uri) {
      let uri: AtUri
      try {
        uri = new AtUri(params.uri)
      } catch {
        throw new InvalidRequestError('Params/uri must be a valid at-uri')
      }
      const account = ctx.accounts.store.byHandleOrDid(uri.hostname)
      const record = account && ctx.records.get(account.did, uri.collection, uri.rkey)
      if (!record) throw notFound()
      return { subject: { $type: 'com.atproto.repo.strongRef', uri: record.uri, cid: record.cid }, takedown: { applied: false } }
    }
    if (params.did) {
      const account = ctx.accounts.store.byDid(params.did)
      if (!account) throw notFound()
      return {
        subject: { $type: 'com.atproto.admin.defs#repoRef', did: account.did },
        takedown: account.takedown_ref ? { applied: true, ref: account.takedown_ref } : { applied: false },
        deactivated: { applied: account.deactivated_at !== null },
      }
    }
    throw new InvalidRequestError('No provided subject')
  },
})
