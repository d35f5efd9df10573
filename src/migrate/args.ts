// The command line of `npm run migrate`: options, their defaults from the environment, and the help text.
import { parseArgs } from 'node:util'
import { EXIT, MigrateError } from './errors.ts'
import { STEPS, type StepName } from './state.ts'

export const USAGE = `usage: npm run migrate -- --from <old PDS URL> --identifier <handle|DID|email> --to <new PDS URL> [options]

Moves an account from one PDS to another with the official sequence (service auth → createAccount → repo → blobs →
preferences → PLC operation → activate the new, deactivate the old). Running the same command again after an
interruption resumes where it stopped.

  --from <url>                the PDS the account is on now
  --identifier <id>           its handle, DID or email there
  --password <pw>             its password there (default: $MIGRATE_PASSWORD, else asked on a terminal)
  --auth-factor-token <code>  the sign-in code the old PDS emailed, if it asks for one
  --to <url>                  the PDS to move to
  --new-handle <handle>       handle on the new PDS (default: the current handle)
  --new-email <email>         email on the new PDS (default: the one the old PDS has)
  --new-password <pw>         password on the new PDS (default: $MIGRATE_NEW_PASSWORD, else the old password)
  --invite-code <code>        invite code, if the new PDS requires one
  --plc-token <code>          the confirmation code the old PDS emailed for the identity change; without it the
                              code is requested, and asked for on a terminal
  --state-file <path>         where progress is kept (default: ./migrate-<did>.json)
  --allow-missing-blobs       move the identity even if some blobs could not be copied
  -h, --help                  this text

exit codes: 0 migrated, 1 a step failed (run again to resume), 2 bad options,
            3 confirmation code sent: run again with --plc-token
`

export type MigrateArgs = {
  oldPds: string
  identifier: string
  password: string | undefined
  authFactorToken: string | undefined
  newPds: string
  newHandle: string | undefined
  newEmail: string | undefined
  newPassword: string | undefined
  inviteCode: string | undefined
  plcToken: string | undefined
  stateFile: string | undefined
  allowMissingBlobs: boolean
  /** For tests of resuming: stop (exit 4) right after this step is done. From $MIGRATE_STOP_AFTER. */
  stopAfter: StepName | undefined
}

/** Parse argv (without node and the script); `'help'` when help was asked for. Throws MigrateError (exit 2). */
export function parseMigrateArgs(argv: string[], env: NodeJS.ProcessEnv): MigrateArgs | 'help' {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        from: { type: 'string' },
        identifier: { type: 'string' },
        password: { type: 'string' },
        'auth-factor-token': { type: 'string' },
        to: { type: 'string' },
        'new-handle': { type: 'string' },
        'new-email': { type: 'string' },
        'new-password': { type: 'string' },
        'invite-code': { type: 'string' },
        'plc-token': { type: 'string' },
        'state-file': { type: 'string' },
        'allow-missing-blobs': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw usage((err as Error).message)
  }
  if (values.help) return 'help'
  const missing = (['from', 'identifier', 'to'] as const).filter((k) => !values[k])
  if (missing.length) throw usage(`missing ${missing.map((k) => `--${k}`).join(', ')}`)
  const stopAfter = env.MIGRATE_STOP_AFTER || undefined
  if (stopAfter && !(STEPS as readonly string[]).includes(stopAfter)) {
    throw usage(`MIGRATE_STOP_AFTER must be one of ${STEPS.join(', ')}`)
  }
  const oldPds = serviceUrl('--from', values.from!)
  const newPds = serviceUrl('--to', values.to!)
  if (oldPds === newPds) throw usage('--from and --to are the same server')
  return {
    oldPds,
    identifier: values.identifier!.replace(/^@/, ''),
    password: values.password ?? (env.MIGRATE_PASSWORD || undefined),
    authFactorToken: values['auth-factor-token'],
    newPds,
    newHandle: values['new-handle']?.replace(/^@/, '').toLowerCase(),
    newEmail: values['new-email'],
    newPassword: values['new-password'] ?? (env.MIGRATE_NEW_PASSWORD || undefined),
    inviteCode: values['invite-code'],
    plcToken: values['plc-token']?.trim(),
    stateFile: values['state-file'],
    allowMissingBlobs: values['allow-missing-blobs'] ?? false,
    stopAfter: stopAfter as StepName | undefined,
  }
}

/** An http(s) origin without a trailing slash; a bare host name gets https://. */
function serviceUrl(flag: string, value: string): string {
  let url: URL
  try {
    url = new URL(value.includes('://') ? value : `https://${value}`)
  } catch {
    throw usage(`${flag} ${value} is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw usage(`${flag} must be an http(s) URL, not ${value}`)
  return url.origin
}

function usage(message: string): MigrateError {
  return new MigrateError(`${message} (see --help)`, EXIT.usage)
}
