import type { ComAtprotoServerCreateAccount, ComAtprotoServerCreateInviteCode, ComAtprotoServerDescribeServer } from '@atproto/api'
import { printJson, type Command } from '../command.ts'
import { newPassword } from '../password.ts'
import { formatFields } from '../table.ts'

/**
 * A new account with a generated password, printed once, as the reference's `pdsadmin account create`. When the
 * server requires invite codes, a single-use one is made for it unless `--invite-code` names one.
 */
export const accountCreate: Command = {
  name: 'account create',
  args: '<email> <handle>',
  summary: 'a new account; prints its generated password once',
  arity: [2, 2],
  options: { 'invite-code': { type: 'string', value: 'code', description: 'spend this invite code instead of making one' } },
  run: async (ctx, [email, rawHandle], options) => {
    const server = ctx.server()
    const handle = rawHandle.replace(/^@/, '').toLowerCase()
    const desc = await server.call('describe itself (describeServer)', () =>
      server.query<ComAtprotoServerDescribeServer.OutputSchema>('com.atproto.server.describeServer', {}, { anonymous: true }),
    )
    let inviteCode = options['invite-code'] as string | undefined
    if (!inviteCode && desc.inviteCodeRequired) {
      const made = await server.call('make an invite code', () =>
        server.procedure<ComAtprotoServerCreateInviteCode.OutputSchema>('com.atproto.server.createInviteCode', { useCount: 1 }),
      )
      inviteCode = made.code
    }
    const password = newPassword()
    // As a new user would sign up: without the admin password.
    const data = await server.call(`create the account ${handle}`, () =>
      server.procedure<ComAtprotoServerCreateAccount.OutputSchema>(
        'com.atproto.server.createAccount',
        { email, handle, password, inviteCode },
        { anonymous: true },
      ),
    )
    if (ctx.json) {
      printJson(ctx, { did: data.did, handle: data.handle, password })
      return
    }
    ctx.out.ok(`account created`)
    ctx.out.line(formatFields([['Handle', data.handle], ['DID', data.did], ['Password', password]]))
    ctx.out.line('Save this password: it is not shown again (reset it with `account reset-password`).')
  },
}
