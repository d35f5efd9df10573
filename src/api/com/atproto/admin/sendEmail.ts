import { z } from 'zod'
import { DEFAULT_OPERATOR_MAIL_SUBJECT } from '../../../../account/account-admin.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

/**
 * Mail an account's owner through this PDS's mailer. `senderDid` and `comment` are for a moderation service's
 * records; required and accepted as the lexicon says, and not kept. `sent`: false when no SMTP server is configured.
 */
export default defineMethod({
  input: z.object({
    recipientDid: did,
    content: z.string().max(50_000),
    subject: z.string().max(500).optional(),
    senderDid: did,
    comment: z.string().optional(),
  }),
  handler: ({ ctx, input }) =>
    ctx.accountAdmin.sendEmail(input.recipientDid, input.subject ?? DEFAULT_OPERATOR_MAIL_SUBJECT, input.content),
})
