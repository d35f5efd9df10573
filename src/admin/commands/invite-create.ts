import type { ComAtprotoServerCreateInviteCodes } from '@atproto/api'
import { CliError } from '../../cli/errors.ts'
import { EXIT, printJson, type Command } from '../command.ts'

/** Invite codes (server.createInviteCodes), one per line: for anyone, or for an account to hand out. */
export const inviteCreate: Command = {
  name: 'invite create',
  summary: 'make invite codes, printed one per line',
  arity: [0, 0],
  options: {
    uses: { type: 'string', value: 'n', description: 'signups each code allows (default 1)' },
    count: { type: 'string', value: 'n', description: 'how many codes (default 1)' },
    for: { type: 'string', value: 'did|handle', description: 'the account the codes are made for' },
  },
  run: async (ctx, _positionals, options) => {
    const useCount = count('--uses', options.uses)
    const codeCount = count('--count', options.count)
    const server = ctx.server()
    const forAccount = options.for ? (await server.account(options.for as string, ctx.out)).did : undefined
    const data = await server.call('make invite codes', () =>
      server.procedure<ComAtprotoServerCreateInviteCodes.OutputSchema>('com.atproto.server.createInviteCodes', {
        useCount,
        codeCount,
        forAccounts: forAccount ? [forAccount] : undefined,
      }),
    )
    const codes = data.codes.flatMap((c) => c.codes)
    if (ctx.json) printJson(ctx, { codes, useCount, forAccount: forAccount ?? null })
    else for (const code of codes) ctx.out.line(code)
  },
}

function count(flag: string, value: string | boolean | undefined): number {
  if (value === undefined) return 1
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${flag} must be a whole number of at least 1, not ${value}`, EXIT.usage)
  return n
}
