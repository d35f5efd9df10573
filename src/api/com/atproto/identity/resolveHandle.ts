import { z } from 'zod'
import { normalizeHandle } from '../../../../identity/handles.ts'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  params: z.object({ handle: z.string() }),
  handler: async ({ ctx, params }) => {
    const handle = normalizeHandle(params.handle)
    const local = ctx.accounts.store.byHandle(handle)
    if (local) return { did: local.did }
    // Not ours: DNS TXT and https well-known, as any resolver would.
    let did: string | undefined
    try {
      did = await ctx.identity.handle(handle)
    } catch (err) {
      ctx.log.debug({ err, handle }, 'handle resolution failed')
    }
    if (!did) throw new InvalidRequestError('Unable to resolve handle', 'HandleNotFound')
    return { did }
  },
})
