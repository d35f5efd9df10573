import { z } from 'zod'
import { localHandleDid } from '../../../../account/handle-lookup.ts'
import { normalizeHandle } from '../../../../identity/handles.ts'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  params: z.object({ handle: z.string() }),
  handler: async ({ ctx, params }) => {
    const handle = normalizeHandle(params.handle)
    const notFound = () => new InvalidRequestError('Unable to resolve handle', 'HandleNotFound')
    // Our own handles: active accounts only. One of our domains that no active account holds ends here.
    const local = localHandleDid(ctx.accounts.store, ctx.cfg.serviceHandleDomains, handle)
    if (local) return { did: local }
    if (local === null) throw notFound()
    // Not ours: DNS TXT and https well-known, as any resolver would.
    let did: string | undefined
    try {
      did = await ctx.identity.handle(handle)
    } catch (err) {
      ctx.log.debug({ err, handle }, 'handle resolution failed')
    }
    if (!did) throw notFound()
    return { did }
  },
})
