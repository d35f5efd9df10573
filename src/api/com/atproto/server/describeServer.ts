import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  handler: ({ ctx }) => ({
    did: ctx.cfg.serviceDid,
    availableUserDomains: ctx.cfg.serviceHandleDomains,
    inviteCodeRequired: ctx.cfg.inviteRequired,
    phoneVerificationRequired: false,
    links: {},
    contact: {},
  }),
})
