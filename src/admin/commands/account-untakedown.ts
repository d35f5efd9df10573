import { printJson, type Command } from '../command.ts'
import { setTakedown } from '../takedown.ts'

/** Lift an account's takedown: its repo is served again and it may log in. */
export const accountUntakedown: Command = {
  name: 'account untakedown',
  args: '<did|handle>',
  summary: "lift an account's takedown",
  arity: [1, 1],
  run: async (ctx, [identifier]) => {
    const view = await setTakedown(ctx, identifier, { applied: false })
    if (ctx.json) printJson(ctx, { did: view.did, handle: view.handle, takedown: { applied: false } })
    else ctx.out.ok(`lifted the takedown of ${view.handle} (${view.did})`)
  },
}
