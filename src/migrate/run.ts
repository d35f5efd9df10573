// The migration from start to finish: connect to both servers, sign in to the old, open (or resume) the state
// file, run the steps in order (each skips itself when already done), record each in the state file as it
// finishes, and end with the report from both sides. Resolves with the exit code; failures throw MigrateError.
import type { MigrateArgs } from './args.ts'
import { ensureAccount } from './account.ts'
import { activateNew, deactivateOld } from './activation.ts'
import { copyBlobs } from './blobs.ts'
import { connect, signInOld, type Migration } from './context.ts'
import { EXIT, MigrateError } from './errors.ts'
import { moveIdentity } from './identity.ts'
import type { Output } from '../cli/output.ts'
import { copyPreferences } from './preferences.ts'
import { finalReport } from './report.ts'
import { moveRepo } from './repo.ts'
import { StateFile, defaultStatePath, type StepName } from './state.ts'

export type RunOptions = {
  args: MigrateArgs
  out: Output
  /** Reads a secret from the user (absent when there is no terminal to ask on). */
  askSecret?: (question: string) => Promise<string>
  /** Reads the emailed PLC confirmation code from the user (absent: no terminal). */
  askCode?: () => Promise<string>
}

type Figures = Record<string, string | number | boolean>

export async function runMigration({ args, out, askSecret, askCode }: RunOptions): Promise<number> {
  const password = args.password ?? (askSecret ? await askSecret(`Password for ${args.identifier} on ${args.oldPds}: `) : '')
  if (!password) {
    throw new MigrateError('no password for the old PDS: pass --password or set MIGRATE_PASSWORD', EXIT.usage)
  }
  const [old, neu] = await Promise.all([connect('old PDS', args.oldPds), connect('new PDS', args.newPds)])
  if (old.serviceDid === neu.serviceDid) {
    throw new MigrateError(`--from and --to are the same PDS (both are ${old.serviceDid})`, EXIT.usage)
  }
  await signInOld(old, args, password)
  const session = old.agent.session!
  const newEmail = args.newEmail ?? session.email
  if (!newEmail) {
    throw new MigrateError('the old PDS does not say which email the account has: pass --new-email', EXIT.usage)
  }
  const state = StateFile.open(args.stateFile ?? defaultStatePath(session.did), {
    did: session.did,
    oldPds: args.oldPds,
    newPds: args.newPds,
    newHandle: args.newHandle ?? session.handle,
  })
  // A rerun without --new-handle means the handle of the first run, not the old one.
  const newHandle = args.newHandle ?? state.state.newHandle
  state.state.newHandle = newHandle
  const m: Migration = {
    args,
    out,
    state,
    did: session.did,
    oldHandle: session.handle,
    oldEmail: session.email,
    old,
    new: neu,
    newHandle,
    newEmail,
    newPassword: args.newPassword ?? password,
  }

  out.line(`Moving ${m.did} (${m.oldHandle})`)
  out.line(`  from ${old.side.url} (${old.serviceDid})`)
  out.line(`  to   ${neu.side.url} (${neu.serviceDid}) as ${newHandle}`)
  const done = Object.keys(state.state.steps)
  out.line(`  progress kept in ${state.path}${state.resumed ? ` (resuming; done before: ${done.join(', ') || 'nothing'})` : ''}`)
  out.line()

  const steps: [StepName, () => Promise<Figures | 'skipped'>][] = [
    ['createAccount', () => ensureAccount(m)],
    ['importRepo', () => moveRepo(m)],
    ['blobs', () => copyBlobs(m)],
    ['preferences', async () => {
      if (!state.done('preferences')) return copyPreferences(m)
      out.ok('preferences already copied: not copied again')
      return 'skipped'
    }],
    ['plcOperation', async () => (await moveIdentity(m, askCode)) === 'skipped' ? 'skipped' : {}],
    ['activateAccount', async () => (await activateNew(m)) === 'skipped' ? 'skipped' : {}],
    ['deactivateOld', async () => (await deactivateOld(m)) === 'skipped' ? 'skipped' : {}],
  ]
  for (const [name, step] of steps) {
    const result = await step()
    if (result !== 'skipped') state.markDone(name, result)
    else if (!state.done(name)) state.markDone(name, { skipped: true })
    if (args.stopAfter === name) {
      out.line(`stopped after ${name}, as MIGRATE_STOP_AFTER asked; run the same command again to resume`)
      return EXIT.stopped
    }
  }

  const report = await finalReport(m)
  out.line()
  out.line(report.text)
  out.line()
  if (!report.complete) {
    out.fail('the move is not complete (see the report above); run the same command again to retry the missing steps')
    return EXIT.failed
  }
  if (report.missingBlobs) out.warn(`${report.missingBlobs} blob(s) are missing on the new PDS (--allow-missing-blobs)`)
  out.ok(`moved: ${m.did} is now served by ${neu.side.url} as ${newHandle}`)
  out.line(`  ${state.path} can be deleted.`)
  return EXIT.ok
}
