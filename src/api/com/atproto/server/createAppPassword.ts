import { z } from 'zod'
import { userOf } from '../../../../xrpc/auth.ts'
import { defineMethod } from '../../../../xrpc/method.ts'

const input = z.object({
  name: z.string().trim().min(1).max(128),
  privileged: z.boolean().optional(),
})

export default defineMethod({
  input,
  handler: ({ ctx, auth, input }) => ctx.appPasswords.create(userOf(auth).did, input.name, input.privileged ?? false),
})
