// What registerPush and unregisterPush share: the reference answers neither itself but forwards the call, signed for
// the user, to the notification service named in the body (@atproto/pds api/app/bsky/notification/registerPush.js).
import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import type { HandlerArgs } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/** The lexicons' common input; unknown fields are kept and passed on (the service's lexicon may be newer). */
export const pushInput = z.looseObject({
  serviceDid: did,
  token: z.string().min(1).max(4096),
  platform: z.string().min(1).max(64), // knownValues ios, android, web: open
  appId: z.string().min(1).max(256),
})

/**
 * A handler sending the input to `serviceDid`'s notification service: the configured AppView when it is that DID,
 * else its document's `#bsky_notif` endpoint (SSRF-guarded). The service JWT has aud `serviceDid` and lxm `nsid`.
 */
export function forwardPush(nsid: string) {
  return async ({ ctx, auth, input }: HandlerArgs<unknown, z.infer<typeof pushInput>>): Promise<void> => {
    const user = userOf(auth)
    // The service is named in the body, so the reference checks an OAuth token's rpc permission here.
    if (user.type === 'oauth') user.permissions.assertRpc({ aud: `${input.serviceDid}#bsky_notif`, lxm: nsid })
    const target = await ctx.proxy.targets.notificationService(input.serviceDid, nsid)
    await ctx.proxy.procedure(user.did, target, nsid, input)
  }
}
