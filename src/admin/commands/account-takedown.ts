import { printJson, type Command } from '../command.ts'
import { setTakedown } from '../takedown.ts'

/** Take an account down: its repo is no longer served, its sessions end, it cannot log in. */
export const accountTakedown: Command = {
  name: 'account takedown',
  args: '<did|handle>',
  summary: 'take an account down (repo no longer served, sessions ended)',
  arity: [1, 1],
  options: { ref: { type: 'string', value: 'ref', description: 'a reference kept with the takedown (default: the time)' } },
  run: async (ctx, [identifier], options) => {
    const ref = (options.ref as string | undefined) ?? `takedown-${Math.floor(Date.now() / 1000)}`
    const view = await setTakedown(ctx, identifier, { applied: true, ref })
    if (ctx.json) printJson(ctx, { did: view.did, handle: view.handle, takedown: { applied: true, ref } })
    else ctx.out.ok(`took down ${view.handle} (${view.did}), ref ${ref}`)
  },
}
