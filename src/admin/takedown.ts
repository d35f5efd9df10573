import type { AccountView } from './client.ts'
import type { CommandContext } from './command.ts'

/** admin.updateSubjectStatus on the account's repo: take it down (with `ref`) or lift that. Returns the account. */
export async function setTakedown(
  ctx: CommandContext,
  identifier: string,
  takedown: { applied: boolean; ref?: string },
): Promise<AccountView> {
  const server = ctx.server()
  const view = await server.account(identifier, ctx.out)
  await server.call(`${takedown.applied ? 'take down' : 'lift the takedown of'} ${view.handle}`, () =>
    server.procedure('com.atproto.admin.updateSubjectStatus', {
      subject: { $type: 'com.atproto.admin.defs#repoRef', did: view.did },
      takedown,
    }),
  )
  return view
}
