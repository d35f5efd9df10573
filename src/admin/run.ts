// One `npm run admin` run: parse the command line, build what the command works with (lazily: a command that needs
// no server never reads the admin password), run it, and turn any failure into its message and exit code.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { CliError } from '../cli/errors.ts'
import type { Output } from '../cli/output.ts'
import { ConfigError, type Config } from '../config/index.ts'
import { parseAdminArgs, usage } from './args.ts'
import { AdminClient } from './client.ts'
import { EXIT, type Command, type CommandContext } from './command.ts'

export type AdminRunOptions = {
  argv: string[]
  commands: readonly Command[]
  out: Output
  /** The server's configuration from the environment (configFromProcessEnv); called only when a command needs it. */
  loadConfig: () => Config
  /** Asks a yes/no question; absent when there is no terminal. */
  confirm?: (question: string) => Promise<boolean>
}

/** Resolves with the exit code; never rejects for a failure it can explain. */
export async function runAdmin(opts: AdminRunOptions): Promise<number> {
  try {
    const invocation = parseAdminArgs(opts.argv, opts.commands)
    if (invocation.kind === 'help') {
      opts.out.line(usage(opts.commands).trimEnd())
      return EXIT.ok
    }
    let cfg: Config | undefined
    const config = () => (cfg ??= loadConfig(opts.loadConfig))
    let client: AdminClient | undefined
    const ctx: CommandContext = {
      out: opts.out,
      json: invocation.json,
      config,
      confirm: opts.confirm,
      server: () =>
        (client ??= new AdminClient(
          invocation.url ? serverUrl(invocation.url) : localUrl(config()),
          invocation.password ?? config().secrets.adminPassword,
          invocation.password === undefined ? passwordHint(config()) : undefined,
        )),
    }
    await invocation.command.run(ctx, invocation.positionals, invocation.options)
    return EXIT.ok
  } catch (err) {
    if (err instanceof CliError) {
      opts.out.fail(err.message)
      return err.exitCode
    }
    opts.out.fail(`unexpected error: ${(err as Error).stack ?? String(err)}`)
    return EXIT.failed
  }
}

function loadConfig(load: () => Config): Config {
  try {
    return load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    throw new CliError(`bad configuration: ${err.message} (or pass --url and --password)`, EXIT.usage)
  }
}

/**
 * A localhost server's password is the one in its data directory's secrets.json; a data directory without a database
 * is not the server's (the configuration just generated a password there), the likely reason for a refusal.
 */
function passwordHint(cfg: Config): string | undefined {
  if (cfg.hostname !== 'localhost' || existsSync(path.join(cfg.dataDirectory, 'pds.sqlite'))) return undefined
  return (
    `${cfg.dataDirectory} holds no server database, so its secrets.json is not the server's: set PDS_DATA_DIRECTORY ` +
    `to the server's data directory, or pass --password`
  )
}

/** Where the server listens on this machine: its bind address (loopback for a wildcard one) and port. */
function localUrl(cfg: Config): string {
  const host = !cfg.bindHost || cfg.bindHost === '0.0.0.0' ? '127.0.0.1' : cfg.bindHost === '::' ? '::1' : cfg.bindHost
  return `http://${host.includes(':') ? `[${host}]` : host}:${cfg.port}`
}

/** `--url`: an http(s) origin; a bare host name gets https://. */
function serverUrl(value: string): string {
  try {
    const url = new URL(value.includes('://') ? value : `https://${value}`)
    if (url.protocol === 'https:' || url.protocol === 'http:') return url.origin
  } catch {}
  throw new CliError(`--url ${value} is not an http(s) URL (see --help)`, EXIT.usage)
}
