// The resume file: which steps of one migration are done, so that running the same command again after an
// interruption skips them. It holds no secrets (no passwords, tokens or codes), only what was done and when, and is
// rewritten whole (temp file + rename) after every step so a crash leaves either the old or the new version.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { MigrateError, EXIT } from './errors.ts'

/** The steps in the order they run; MIGRATE_STOP_AFTER takes one of these names. */
export const STEPS = [
  'createAccount',
  'importRepo',
  'blobs',
  'preferences',
  'plcOperation',
  'activateAccount',
  'deactivateOld',
] as const
export type StepName = (typeof STEPS)[number]

/** What a finished step leaves behind: when (ISO time), plus step-specific figures. */
export type StepRecord = { at: string } & Record<string, string | number | boolean>

export type MigrationState = {
  version: 1
  did: string
  /** The two servers' URLs, as given: a state file is only ever resumed against the same pair. */
  oldPds: string
  newPds: string
  newHandle: string
  steps: Partial<Record<StepName, StepRecord>>
  /** When the old PDS last emailed a PLC confirmation code, and to where (informational). */
  plcTokenRequested?: { at: string; to: string }
}

/** `./migrate-did-plc-abc.json` for `did:plc:abc` (no colons: the name works on every file system). */
export function defaultStatePath(did: string): string {
  return path.resolve(`migrate-${did.replaceAll(':', '-')}.json`)
}

export class StateFile {
  readonly path: string
  readonly state: MigrationState
  /** Whether the file existed before this run. */
  readonly resumed: boolean

  private constructor(path: string, state: MigrationState, resumed: boolean) {
    this.path = path
    this.state = state
    this.resumed = resumed
  }

  /** Read `file` if it exists (it must be for this DID and these servers), else start a fresh state. */
  static open(file: string, fresh: Omit<MigrationState, 'version' | 'steps'>): StateFile {
    if (!existsSync(file)) return new StateFile(file, { version: 1, ...fresh, steps: {} }, false)
    let state: MigrationState
    try {
      state = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new MigrateError(`the state file ${file} is not readable JSON (${(err as Error).message}); move it away to start over`)
    }
    if (state.version !== 1 || !state.steps) {
      throw new MigrateError(`the state file ${file} is not a migration state file; move it away or pass --state-file`)
    }
    for (const key of ['did', 'oldPds', 'newPds'] as const) {
      if (state[key] !== fresh[key]) {
        throw new MigrateError(
          `the state file ${file} is for another migration (${key} ${state[key]}, not ${fresh[key]}); move it away or pass --state-file`,
          EXIT.usage,
        )
      }
    }
    return new StateFile(file, state, true)
  }

  done(step: StepName): StepRecord | undefined {
    return this.state.steps[step]
  }

  /** Record `step` as done with its figures, and write the file. */
  markDone(step: StepName, figures: Record<string, string | number | boolean> = {}): void {
    this.state.steps[step] = { at: new Date().toISOString(), ...figures }
    this.save()
  }

  /** Forget `step` (its result was found missing on the server), and write the file. */
  forget(step: StepName): void {
    delete this.state.steps[step]
    this.save()
  }

  save(): void {
    const tmp = `${this.path}.tmp`
    writeFileSync(tmp, JSON.stringify(this.state, null, 2) + '\n', { mode: 0o600 })
    renameSync(tmp, this.path)
  }
}
