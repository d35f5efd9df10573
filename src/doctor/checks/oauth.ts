// OAuth through the public URL: apps find the authorization server at <public URL>/.well-known/oauth-authorization-
// server and refuse it unless its `issuer` is exactly the URL they asked (RFC 8414 §3.3). The commonest self-hosting
// OAuth failure is a proxy or a PDS_PUBLIC_URL that makes the two differ (http vs https, a port, another hostname).
import type { Config } from '../../config/index.ts'
import { oauthIssuer } from '../../oauth/provider.ts'
import type { Fetched } from '../../util/net.ts'
import type { CheckResult } from '../types.ts'

export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server'

/** The check's verdict on the metadata document fetched from `<public URL>${OAUTH_METADATA_PATH}`. */
export function oauthResult(cfg: Pick<Config, 'publicUrl'>, res: Fetched): CheckResult {
  const expected = oauthIssuer(cfg)
  const where = `${expected}${OAUTH_METADATA_PATH}`
  if (!res.ok) {
    return {
      id: 'oauth',
      status: 'fail',
      detail: `${where}: ${res.error}`,
      fix: `make ${where} reach the PDS: the proxy must forward /.well-known/ and /oauth/ (and /@atproto/, /account) too`,
    }
  }
  let issuer: unknown
  try {
    issuer = (JSON.parse(res.text) as { issuer?: unknown }).issuer
  } catch {}
  if (issuer !== expected) {
    return {
      id: 'oauth',
      status: 'fail',
      detail: `the OAuth metadata at ${where} names issuer ${JSON.stringify(issuer)}, not ${expected}: OAuth apps will refuse to sign in`,
      fix:
        `set PDS_PUBLIC_URL=${expected} (https, no port, no path) on the PDS and restart it; behind a proxy, make sure it ` +
        'forwards to this PDS and not another one',
    }
  }
  return { id: 'oauth', status: 'pass', detail: `OAuth metadata answers through the public URL with issuer ${expected}` }
}
