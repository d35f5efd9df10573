// Failures as a command-line user should read them: which server, what we were doing, what it said, and what to do
// about it. Every XRPC call of the command-line tools (npm run migrate, npm run admin) goes through `ask`, so no raw
// "fetch failed" or stack trace reaches the terminal.
import { describeNetworkError } from '../util/net.ts'

/**
 * A failed XRPC call as the clients report it: @atproto/api's XRPCError, or the admin tool's own (src/admin/client.ts),
 * which loads faster. `status`: the HTTP status, or 1 when no answer came (`cause` says why), 2 when the answer did
 * not fit the lexicon; `error`: the XRPC error name.
 */
export type XrpcFailure = Error & { status: number; error?: string; cause?: unknown }

function isXrpcFailure(err: unknown): err is XrpcFailure {
  return err instanceof Error && typeof (err as { status?: unknown }).status === 'number'
}

/** A failure with the exit code the tool ends with (each tool lists its codes in its --help). */
export class CliError extends Error {
  readonly exitCode: number
  /** The HTTP status of the refusal behind it, if a server answered (absent: unreachable, or not a server's). */
  readonly status: number | undefined
  /** The XRPC error name the server answered with (`NotFound`, `InvalidRequest`...), if it answered. */
  readonly error: string | undefined

  constructor(message: string, exitCode = 1, status?: number, error?: string) {
    super(message)
    this.exitCode = exitCode
    this.status = status
    this.error = error
  }

  /** A server answered 4xx about this one request (not 401: a lost session is everyone's problem). */
  get refused(): boolean {
    return this.status !== undefined && this.status >= 400 && this.status < 500 && this.status !== 401
  }
}

/** A server as messages name it: "the old PDS (https://…)", "the PDS (http://…)". */
export type Side = { name: string; url: string }

/** What to do about a refusal, by XRPC error name (or HTTP status when the name is generic). */
export type Hints = Record<string, string>

/**
 * Run one call against `side`; on failure throw a CliError (exit code 1) such as
 * "the new PDS refused to create the account: InvalidInviteCode: No invite code provided → pass --invite-code" or
 * "cannot reach the old PDS at https://… while trying to sign in as alice.example.com: connect ECONNREFUSED …".
 * `doing` completes "refused to …" / "while …": e.g. "create the account".
 */
export async function ask<T>(side: Side, doing: string, call: () => Promise<T>, hints: Hints = {}): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw explain(err, side, doing, hints)
  }
}

export function explain(err: unknown, side: Side, doing: string, hints: Hints = {}): CliError {
  if (err instanceof CliError) return err
  if (isXrpcFailure(err) && err.status > 2) {
    const said = [err.error, err.message].filter((s, i, all) => s && all.indexOf(s) === i).join(': ')
    const hint = hints[err.error ?? ''] ?? hints[String(err.status)]
    const verb = err.status >= 500 ? 'failed to' : 'refused to'
    return new CliError(
      `the ${side.name} (${side.url}) ${verb} ${doing}: ${said || `HTTP ${err.status}`}${hint ? ` → ${hint}` : ''}`,
      1,
      err.status,
      err.error || undefined,
    )
  }
  if (isXrpcFailure(err) && err.status === 2) {
    return new CliError(`the ${side.name} (${side.url}) answered out of its lexicon while trying to ${doing}: ${err.message}`)
  }
  // XRPCError status 1 (no response) wraps undici's "fetch failed", whose cause says what really happened.
  const cause = isXrpcFailure(err) && err.cause ? err.cause : err
  return new CliError(`cannot reach the ${side.name} at ${side.url} while trying to ${doing}: ${describeNetworkError(cause)}`)
}
