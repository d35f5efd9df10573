import { printJson, type Command } from '../command.ts'
import { formatTable } from '../table.ts'
import { shortTime } from '../time.ts'

/** Every account with its status: listRepos + getAccountInfos, as the reference's `pdsadmin account list`. */
export const accountList: Command = {
  name: 'account list',
  summary: 'every account: handle, DID, email, status, creation time',
  arity: [0, 0],
  run: async (ctx) => {
    const accounts = await ctx.server().listAccounts(ctx.out)
    if (ctx.json) {
      printJson(ctx, {
        accounts: accounts.map(({ view, active, status }) => ({
          did: view.did,
          handle: view.handle,
          email: view.email ?? null,
          emailConfirmed: Boolean(view.emailConfirmedAt),
          active,
          status,
          createdAt: view.indexedAt,
        })),
      })
      return
    }
    const rows = accounts.map(({ view, status }) => [view.handle, view.did, view.email ?? '', status, shortTime(view.indexedAt)])
    ctx.out.line(formatTable(['HANDLE', 'DID', 'EMAIL', 'STATUS', 'CREATED'], rows))
    ctx.out.line(`${accounts.length} account${accounts.length === 1 ? '' : 's'}`)
  },
}
