// Verifying the service JWTs other parties send us: an account's old PDS speaking for it to our createAccount (a
// migration in). The reference's AuthVerifier.verifyServiceJwt (@atproto/pds auth-verifier.js): @atproto/xrpc-server's
// verifyJwt (format, type, expiry, `lxm`, issuer syntax, signature: retried once with a freshly resolved key), with
// the issuer's key from its DID document, then `aud` must be this service's DID. Every refusal is 401 with the
// reference's error name: BadJwt, BadJwtType, JwtExpired, BadJwtLexiconMethod, BadJwtIss, BadJwtSignature,
// BadJwtAudience, or AuthenticationRequired when the issuer's DID document cannot be had.
import { AuthRequiredError, PdsError } from '../errors.ts'

/** The claims of a verified token; `iss` is the DID (with a `#service` fragment for some services) it speaks for. */
export type ServiceJwtClaims = { iss: string; aud: string; exp: number; lxm?: string }

export type ServiceJwtVerifierOptions = {
  /** Our DID: what `aud` must be. */
  serviceDid: string
  /** The issuer DID's atproto signing key (did:key); throws when it cannot be resolved. */
  signingKey: (did: string, forceRefresh: boolean) => Promise<string>
}

export class ServiceJwtVerifier {
  private readonly opts: ServiceJwtVerifierOptions

  constructor(opts: ServiceJwtVerifierOptions) {
    this.opts = opts
  }

  /** Verify `token` for a call of method `lxm` (an NSID); the claims, or AuthRequiredError (401). */
  async verify(token: string, lxm: string): Promise<ServiceJwtClaims> {
    let claims: ServiceJwtClaims
    // Loaded on first use: @atproto/xrpc-server (and the lexicon code under it) is the heaviest import at startup,
    // and only a migrating account's createAccount brings a service JWT here.
    const { verifyJwt, XRPCError } = await import('@atproto/xrpc-server')
    try {
      claims = await verifyJwt(token, null, lxm, (iss, forceRefresh) => this.issuerKey(iss, forceRefresh))
    } catch (err) {
      throw asAuthError(err, XRPCError)
    }
    // Checked after the signature, as the reference does: an audience mismatch is only news about a genuine token.
    if (claims.aud !== this.opts.serviceDid) {
      throw new AuthRequiredError('jwt audience does not match service did', 'BadJwtAudience')
    }
    return claims
  }

  private async issuerKey(iss: string, forceRefresh: boolean): Promise<string> {
    const did = iss.split('#')[0]
    try {
      return await this.opts.signingKey(did, forceRefresh)
    } catch {
      throw new AuthRequiredError('could not resolve iss did or its signing key')
    }
  }
}

/** verifyJwt's refusals (xrpc-server errors), a token that is not even JSON, or ours from issuerKey → a 401. */
function asAuthError(err: unknown, XRPCError: typeof import('@atproto/xrpc-server').XRPCError): PdsError {
  if (err instanceof PdsError) return err
  if (err instanceof XRPCError) return new AuthRequiredError(err.errorMessage ?? err.message, err.customErrorName)
  // verifyJwt parses the header and payload with JSON.parse and lets its SyntaxError through.
  if (err instanceof SyntaxError) return new AuthRequiredError('poorly formatted jwt', 'BadJwt')
  throw err
}
