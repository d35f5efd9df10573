// The route table's OAuth rules, exercised without a server: what a token with given scopes gets from a method, as
// the client would see it (allowed, or the XRPC error's status, name and message). For test/oauth-scopes.test.ts and
// the end-to-end OAuth suite.
import { ScopePermissionsTransition } from '@atproto/oauth-scopes'
import { routes } from '../../src/api/routes.ts'
import { toXrpcError } from '../../src/xrpc/errors.ts'
import { authorizeOAuth } from '../../src/xrpc/oauth-rules.ts'

export type Verdict = 'allowed' | { status: number; error: string; message: string }

export type VerdictOptions = {
  params?: Record<string, unknown>
  /** Request headers by lower-case name (content-type, atproto-proxy). */
  headers?: Record<string, string>
  /** The configured `did#service` a method's rpc permission is for (the AppView's, in the reference's default). */
  defaultAudience?: string
}

/** The permissions of a token's space-separated `scope`. */
export function permissionsOf(scope: string): ScopePermissionsTransition {
  return new ScopePermissionsTransition(scope.split(' '))
}

/** What the route table's rule for `nsid` answers a token with `scope` (throws for a method not in the table). */
export function oauthVerdict(nsid: string, scope: string, opts: VerdictOptions = {}): Verdict {
  const route = routes.find((r) => r.nsid === nsid)
  if (!route) throw new Error(`${nsid} is not in the route table`)
  return verdictOf(() =>
    authorizeOAuth(route.oauth, permissionsOf(scope), {
      nsid,
      params: opts.params ?? {},
      header: (name) => opts.headers?.[name],
      rpcAudience: () => opts.headers?.['atproto-proxy'] ?? opts.defaultAudience,
    }),
  )
}

/** 'allowed' if `check` returns, else the XRPC error it throws, as the server would send it. */
export function verdictOf(check: () => void): Verdict {
  try {
    check()
    return 'allowed'
  } catch (err) {
    const x = toXrpcError(err)
    return { status: x.status, error: x.error, message: x.message }
  }
}
