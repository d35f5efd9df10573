// The command line of `npm run admin`: which command, its arguments and options, the global flags, and the help text
// built from the registry.
import { parseArgs } from 'node:util'
import { CliError } from '../cli/errors.ts'
import { EXIT, type Command, type OptionSpec, type OptionValues } from './command.ts'

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: 'string', value: 'url', description: 'the running server (default: http://127.0.0.1:$PDS_PORT)' },
  password: { type: 'string', value: 'password', description: 'the admin password (default: PDS_ADMIN_PASSWORD)' },
  json: { type: 'boolean', description: 'print one JSON document instead of lines for people' },
  help: { type: 'boolean', description: 'this text' },
}

export type Invocation =
  | { kind: 'help' }
  | { kind: 'run'; command: Command; positionals: string[]; options: OptionValues; url?: string; password?: string; json: boolean }

/** The help text: usage, the commands with their arguments and options, the global flags, the exit codes. */
export function usage(commands: readonly Command[]): string {
  const flag = (name: string, o: OptionSpec) => `--${name}${o.value ? ` <${o.value}>` : ''}`
  const lines = ['usage: npm run admin -- <command> [options]   (in the Docker image: node src/admin.ts <command>)', '', 'commands:']
  for (const c of commands) {
    lines.push(`  ${[c.name, c.args].filter(Boolean).join(' ')}`, `      ${c.summary}`)
    for (const [name, o] of Object.entries(c.options ?? {})) lines.push(`      ${flag(name, o).padEnd(24)} ${o.description}`)
  }
  lines.push('', 'options of every command:')
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) lines.push(`  ${flag(name, o).padEnd(28)} ${o.description}`)
  lines.push(
    '',
    'Settings come from the same environment (.env) as the server. The server must be running, except for',
    'backup (either way), restore (stopped) and blobs migrate-to-s3 (either way), which work on the data directory.',
    '',
    'exit codes: 0 done, 1 the server or a relay refused or failed (or could not be reached), 2 bad command or',
    '            options, 3 wrong admin password, 4 no such account;',
    '            restore: 3 the backup is incomplete or damaged, 4 the data directory is not empty',
    '',
  )
  return lines.join('\n')
}

/** Parse argv (without node and the script). Throws CliError (exit 2) for anything it cannot make sense of. */
export function parseAdminArgs(argv: string[], commands: readonly Command[]): Invocation {
  // Every command's options at once: the command is only known once the positionals are.
  const all: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS }
  for (const c of commands) Object.assign(all, c.options)
  let values: OptionValues
  let positionals: string[]
  try {
    const options = Object.fromEntries(Object.entries(all).map(([k, o]) => [k, { type: o.type }]))
    ;({ values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true }))
  } catch (err) {
    throw usageError((err as Error).message)
  }
  if (values.help || positionals.length === 0) return { kind: 'help' }
  const command = [...commands]
    .sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)
    .find((c) => c.name.split(' ').every((word, i) => positionals[i] === word))
  if (!command) throw usageError(`unknown command: ${positionals.slice(0, 2).join(' ')}`)
  const rest = positionals.slice(command.name.split(' ').length)
  const [least, most] = command.arity ?? [0, 0]
  if (rest.length < least || rest.length > most) {
    throw usageError(`${command.name} takes ${command.args ?? 'no arguments'}`)
  }
  const own = new Set(Object.keys(command.options ?? {}))
  const stray = Object.keys(values).find((k) => !(k in GLOBAL_OPTIONS) && !own.has(k))
  if (stray) throw usageError(`--${stray} is not an option of ${command.name}`)
  return {
    kind: 'run',
    command,
    positionals: rest,
    options: values,
    url: values.url as string | undefined,
    password: values.password as string | undefined,
    json: Boolean(values.json),
  }
}

function usageError(message: string): CliError {
  return new CliError(`${message} (see --help)`, EXIT.usage)
}
