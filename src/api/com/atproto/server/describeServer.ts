import { defineMethod } from '../../../../xrpc/method.ts'

export default defineMethod({
  handler: ({ ctx }) => ({
    did: ctx.cfg.serviceDid,
    availableUserDomains: ctx.cfg.serviceHandleDomains,
    inviteCodeRequired: ctx.cfg.inviteRequired,
    phoneVerificationRequired: false,
    // JSON drops the unset ones, as the reference's response does.
    links: { privacyPolicy: ctx.cfg.links.privacyPolicy, termsOfService: ctx.cfg.links.termsOfService },
    contact: { email: ctx.cfg.contactEmail },
  }),
})
