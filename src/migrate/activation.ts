// Steps 6 and 7: switch over. The new PDS activates the account (it announces it to relays: #identity, #account,
// #sync), then the old one deactivates its copy (it keeps the data for export until the account is deleted there).
// Each is skipped when checkAccountStatus already shows it done.
import { ask } from './errors.ts'
import { accountStatus, type Migration } from './context.ts'

export async function activateNew(m: Migration): Promise<'done' | 'skipped'> {
  if ((await accountStatus(m.new)).activated) {
    m.out.ok('account already active on the new PDS')
    return 'skipped'
  }
  await ask(m.new.side, 'activate the account (activateAccount)', () => m.new.agent.com.atproto.server.activateAccount())
  m.out.ok('account activated on the new PDS')
  return 'done'
}

export async function deactivateOld(m: Migration): Promise<'done' | 'skipped'> {
  if (!(await accountStatus(m.old)).activated) {
    m.out.ok('account already deactivated on the old PDS')
    return 'skipped'
  }
  await ask(m.old.side, 'deactivate the account (deactivateAccount)', () =>
    m.old.agent.com.atproto.server.deactivateAccount({}),
  )
  m.out.ok('account deactivated on the old PDS (its data stays there for export until you delete it)')
  return 'done'
}
