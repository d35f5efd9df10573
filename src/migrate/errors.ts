// The migration's exit codes; its failures are explained as every command-line tool's are (src/cli/errors.ts).

/** The command's exit codes; `--help` lists them. */
export const EXIT = {
  /** Migrated (or found already migrated). */
  ok: 0,
  /** A step failed; the message says why. Running the same command again resumes. */
  failed: 1,
  /** Bad or missing options. */
  usage: 2,
  /** The old PDS emailed a confirmation code: run again with `--plc-token`. */
  plcTokenNeeded: 3,
  /** Stopped after the step named in MIGRATE_STOP_AFTER (for tests of resuming). */
  stopped: 4,
} as const

export { ask, CliError as MigrateError, explain, type Hints, type Side } from '../cli/errors.ts'
