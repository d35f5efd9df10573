import type { ComAtprotoAdminGetSubjectStatus } from '@atproto/api'
import { printJson, type Command } from '../command.ts'
import { formatFields } from '../table.ts'
import { shortTime } from '../time.ts'

/** One account in full: getAccountInfo for its details and invites, getSubjectStatus for takedown and deactivation. */
export const accountInfo: Command = {
  name: 'account info',
  args: '<did|handle>',
  summary: "one account: its details, status and invite codes",
  arity: [1, 1],
  run: async (ctx, [identifier]) => {
    const server = ctx.server()
    const view = await server.account(identifier, ctx.out)
    const status = await server.call(`read the status of ${view.did}`, () =>
      server.query<ComAtprotoAdminGetSubjectStatus.OutputSchema>('com.atproto.admin.getSubjectStatus', { did: view.did }),
    )
    if (ctx.json) {
      printJson(ctx, { account: view, takedown: status.takedown ?? null, deactivated: status.deactivated ?? null })
      return
    }
    const takedown = status.takedown?.applied ? `taken down${status.takedown.ref ? ` (ref ${status.takedown.ref})` : ''}` : null
    const deactivated = status.deactivated?.applied ? `deactivated since ${shortTime(view.deactivatedAt)}` : null
    const invites = view.invites ?? []
    const unused = invites.filter((c) => !c.disabled && c.uses.length < c.available).length
    const fields: [string, string][] = [
      ['Handle', view.handle],
      ['DID', view.did],
      ['Email', view.email ? `${view.email} (${view.emailConfirmedAt ? 'confirmed' : 'not confirmed'})` : '(none)'],
      ['Created', shortTime(view.indexedAt)],
      ['Status', [takedown, deactivated].filter(Boolean).join(', ') || 'active'],
      ['Invited with', view.invitedBy?.code ?? '(no invite code)'],
      ['Invite codes', `${invites.length} (${unused} usable)${view.invitesDisabled ? ', barred from new ones' : ''}`],
    ]
    ctx.out.line(formatFields(fields))
  },
}
