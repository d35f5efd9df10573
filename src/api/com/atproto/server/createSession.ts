import { z } from 'zod'
import { defineMethod } from '../../../../xrpc/method.ts'
import { sessionInfo } from './session-output.ts'

const input = z.object({
  identifier: z.string().min(1).max(2048),
  password: z.string().min(1).max(1024),
  authFactorToken: z.string().optional(),
  allowTakendown: z.boolean().optional(),
})

export default defineMethod({
  input,
  handler: async ({ ctx, input }) => {
    const login = await ctx.accounts.login(input.identifier, input.password)
    const withEmail = !login.appPassword || login.appPassword.privileged
    return {
      accessJwt: login.accessJwt,
      refreshJwt: login.refreshJwt,
      ...(await sessionInfo(ctx, login.account, withEmail)),
    }
  },
})
