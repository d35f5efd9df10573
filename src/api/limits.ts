// The rate limits the route table attaches to methods: whose budget each request spends, and how many points. The
// windows (how many points per how long) are configuration: src/config, PDS_RATE_LIMIT_* in the README. Every XRPC
// request also counts against the global per-IP limit, in the router; wrong admin passwords are counted by the auth
// verifier. Keys and points follow the reference PDS.
import type { LimitName } from '../config/index.ts'
import type { AppContext } from '../context.ts'
import { accountDid } from '../xrpc/auth.ts'
import type { LimitArgs, RouteLimit } from '../xrpc/method.ts'

/** One budget per client IP (IPv6: per /64). */
export const perIp = (limit: LimitName): RouteLimit => ({ limit, key: ({ ip }) => ip })

/** One budget per account; requests without a user (the operator's) are not counted. */
export const perAccount = (limit: LimitName, points?: (args: LimitArgs) => number): RouteLimit => ({
  limit,
  key: ({ auth }) => accountDid(auth),
  points,
})

/** Mails an account asks us to send: each method its own budget per account, as in the reference. */
export const emailRequests: RouteLimit = {
  limit: 'emailRequest',
  key: ({ auth, req }) => {
    const did = accountDid(auth)
    return did === null ? null : `${req.params.nsid} ${did}`
  },
}

/**
 * Password attempts, right or wrong, per account and client IP, as the reference keys createSession's: a guesser gets
 * the same small budget for each account from each address, and nobody can lock an account out from elsewhere. The
 * handle, email and DID of one account count as one. `field` is the input that names the account.
 */
const passwordAttempts = (field: 'identifier' | 'did'): RouteLimit => ({
  limit: 'login',
  key: ({ ctx, input, ip }) => `${loginSubject(ctx, (input as Record<typeof field, string>)[field])} ${ip}`,
})

/** createSession's attempts. */
export const loginAttempts = passwordAttempts('identifier')

/**
 * deleteAccount checks the account password too (before its code), so its attempts spend the same budget as logins:
 * otherwise it would be a way to guess passwords around the login limit. Not in the reference.
 */
export const deleteAttempts = passwordAttempts('did')

/** Repo writes in points per account: create 3, update 2, delete 1 (the reference's), so heavy writers meet the limit first. */
export const repoWrite = (points: number | ((input: any) => number)): RouteLimit =>
  perAccount('repoWrite', typeof points === 'number' ? () => points : ({ input }) => points(input))

/** applyWrites: the sum over its writes, counted on the whole batch before any of it is applied. */
export function applyWritesPoints(input: { writes: readonly { $type: string }[] }): number {
  let points = 0
  for (const w of input.writes) points += w.$type.endsWith('#create') ? 3 : w.$type.endsWith('#update') ? 2 : 1
  return points
}

// Each spelling lands on the account it would log into; an identifier naming no account counts by its normalised
// spelling.
function loginSubject(ctx: AppContext, identifier: string): string {
  return ctx.accounts.byLoginIdentifier(identifier)?.did ?? identifier.trim().toLowerCase()
}
