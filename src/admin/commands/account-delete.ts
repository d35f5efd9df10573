import { CliError } from '../../cli/errors.ts'
import { EXIT, printJson, type Command } from '../command.ts'

/** Delete an account with all its data (admin.deleteAccount). Asks first on a terminal; scripts pass `--yes`. */
export const accountDelete: Command = {
  name: 'account delete',
  args: '<did|handle>',
  summary: 'delete an account and all its data, for good',
  arity: [1, 1],
  options: { yes: { type: 'boolean', description: 'do not ask for confirmation' } },
  run: async (ctx, [identifier], options) => {
    const server = ctx.server()
    const view = await server.account(identifier, ctx.out)
    const who = `${view.handle} (${view.did})`
    if (!options.yes) {
      if (!ctx.confirm) throw new CliError(`not deleting ${who} without --yes (no terminal to ask on)`, EXIT.usage)
      if (!(await ctx.confirm(`Delete ${who} with its repo and blobs? This cannot be undone. [y/N] `))) {
        throw new CliError('not deleted', EXIT.failed)
      }
    }
    await server.call(`delete ${who}`, () => server.procedure('com.atproto.admin.deleteAccount', { did: view.did }))
    if (ctx.json) printJson(ctx, { did: view.did, handle: view.handle, deleted: true })
    else ctx.out.ok(`deleted ${who}`)
  },
}
