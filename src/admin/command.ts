// What one `npm run admin` command is, and what it gets to work with. Each command is one file under commands/,
// listed once in registry.ts.
import type { AdminClient } from './client.ts'
import type { Config } from '../config/index.ts'
import type { Output } from '../cli/output.ts'

/** The tool's exit codes; `--help` and the README list them. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The server or a relay refused or failed, or could not be reached; the message says which and why. */
  failed: 1,
  /** Bad command, options or configuration. */
  usage: 2,
  /** The server refused the admin password. */
  auth: 3,
  /** No such account on this server. */
  notFound: 4,
} as const

/** A command's own option: a flag (`boolean`) or one with a value shown as `value` in the help. */
export type OptionSpec = { type: 'string' | 'boolean'; value?: string; description: string }

export type OptionValues = Record<string, string | boolean | undefined>

export type CommandContext = {
  out: Output
  /** `--json`: print one JSON document on stdout instead of lines for people. */
  json: boolean
  /** The running server, signed in as the operator (URL and password from the flags or the configuration). */
  server: () => AdminClient
  /** The server's configuration, parsed from the environment as the server does (throws a usage error if invalid). */
  config: () => Config
  /** Asks a yes/no question on the terminal; undefined when there is no terminal to ask on. */
  confirm: ((question: string) => Promise<boolean>) | undefined
}

export type Command = {
  /** The words that call it: `account list`. */
  name: string
  /** Its positional arguments as the help shows them: `<did|handle>`. */
  args?: string
  summary: string
  options?: Record<string, OptionSpec>
  /** Positional arguments it takes: [least, most]. */
  arity?: [number, number]
  run: (ctx: CommandContext, positionals: string[], options: OptionValues) => Promise<void>
}

/** Print `value` as the one JSON document of a `--json` run. */
export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.out.line(JSON.stringify(value, null, 2))
}
