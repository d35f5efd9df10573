import { z } from 'zod'
import { InvalidRequestError } from '../../../../xrpc/errors.ts'
import { defineMethod } from '../../../../xrpc/method.ts'
import { did } from '../../../../xrpc/schemas.ts'

const statusAttr = z.object({ applied: z.boolean(), ref: z.string().max(1000).optional() })

/**
 * Takedown (and admin deactivation) of an account. Record and blob subjects are refused: this PDS keeps no
 * per-record or per-blob takedown state.
 */
export default defineMethod({
  input: z.object({
    subject: z.looseObject({ $type: z.string() }),
    takedown: statusAttr.optional(),
    deactivated: statusAttr.omit({ ref: true }).optional(),
  }),
  handler: async ({ ctx, input }) => {
    const { subject, takedown, deactivated } = input
    if (takedown?.applied && deactivated && !deactivated.applied) {
      throw new InvalidRequestError('Cannot activate and takedown an account at the same time')
    }
    if (subject.$type !== 'com.atproto.admin.defs#repoRef') {
      throw new InvalidRequestError(`Unsupported subject (${subject.$type}): only com.atproto.admin.defs#repoRef`)
    }
    const parsed = did.safeParse(subject.did)
    if (!parsed.success) throw new InvalidRequestError('Input/subject/did must be a valid DID')
    const service = ctx.accountStatus
    if (takedown) service.setTakedown(parsed.data, takedown)
    if (deactivated?.applied) service.deactivate(parsed.data)
    else if (deactivated) await service.activate(parsed.data)
    // The reference always sequences the account's status from here, even when nothing changed.
    if (!takedown && !deactivated) service.sequenceStatus(parsed.data)
    return { subject: { $type: subject.$type, did: parsed.data }, takedown }
  },
})
