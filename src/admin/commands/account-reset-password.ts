import { printJson, type Command } from '../command.ts'
import { newPassword } from '../password.ts'

/** Give an account a new generated password, printed once; its sessions end (admin.updateAccountPassword). */
export const accountResetPassword: Command = {
  name: 'account reset-password',
  args: '<did|handle>',
  summary: 'set a new generated password, printed once; ends its sessions',
  arity: [1, 1],
  run: async (ctx, [identifier]) => {
    const server = ctx.server()
    const view = await server.account(identifier, ctx.out)
    const password = newPassword()
    await server.call(`set the password of ${view.handle}`, () =>
      server.procedure('com.atproto.admin.updateAccountPassword', { did: view.did, password }),
    )
    if (ctx.json) {
      printJson(ctx, { did: view.did, handle: view.handle, password })
      return
    }
    ctx.out.ok(`new password for ${view.handle} (${view.did}): ${password}`)
    ctx.out.line('Save it: it is not shown again. Every session of the account has ended.')
  },
}
