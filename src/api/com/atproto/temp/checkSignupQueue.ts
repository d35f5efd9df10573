import { defineMethod } from '../../../../xrpc/method.ts'

/** This PDS has no signup queue: every account is activated at signup, which is what the reference answers then. */
export default defineMethod({
  handler: () => ({ activated: true }),
})
