// Service proxying: an XRPC call this server does not serve is sent on to the service the caller names in
// `atproto-proxy` (or the configured one for its namespace), signed for the caller with a service JWT, and the answer
// comes back as it was sent. The reference's proxyHandler (@atproto/pds pipethrough.js), step for step:
// method → protected-method refusal → destination chosen → credentials → privileged-method check → DID resolution
// → the upstream call. Nothing before the credentials touches the network or the body.
import type { IncomingMessage } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { isValidNsid } from '@atproto/syntax'
import type { Request, Response } from 'express'
import { isPrivilegedScope } from '../account/scopes.ts'
import type { Config } from '../config/index.ts'
import {
  InvalidRequestError,
  MethodNotImplementedError,
  PayloadTooLargeError,
  PdsError,
  UpstreamFailureError,
} from '../errors.ts'
import type { IdentityResolver } from '../identity/resolver.ts'
import { isPrivilegedMethod, PROTECTED_METHODS, type ServiceAuth } from '../identity/service-auth.ts'
import type { Logger } from '../logger.ts'
import { loadLexicons } from '../repo/prepare.ts'
import { describeNetworkError } from '../util/net.ts'
import { userOf, type AccountCredentials, type AuthVerifier } from '../xrpc/auth.ts'
import { feedGeneratorDid, GET_FEED, GET_FEED_SKELETON } from './feed-generator.ts'
import { forwardedRequestHeaders, toHeaders } from './headers.ts'
import { isRewritable, sendHead, sendRewritten, type ResponseRewriter, type RewrittenAnswer } from './rewriter.ts'
import { ServiceTargets, type ServiceChoice, type ServiceTarget } from './targets.ts'
import { UpstreamTransport } from './upstream.ts'
import { upstreamResponseError, type UpstreamResponseError } from './upstream-error.ts'

export type { ResponseRewriter } from './rewriter.ts'

/**
 * Methods this server serves that the reference still forwards when `atproto-proxy` names a service other than the
 * configured AppView (its getPreferences/putPreferences handlers). Every other served method ignores the header.
 */
const SERVED_UNLESS_PROXIED = new Set(['app.bsky.actor.getPreferences', 'app.bsky.actor.putPreferences'])

const PROXIED_HTTP_METHODS = new Set(['GET', 'HEAD', 'POST'])

export type ServiceProxyOptions = {
  cfg: Config['proxy']
  identity: IdentityResolver
  serviceAuth: ServiceAuth
  auth: AuthVerifier
  log: Logger
  /** Read-after-write: may change the answers of its methods (src/proxy/rewriter.ts). */
  rewriter?: ResponseRewriter
}

export class ServiceProxy {
  readonly targets: ServiceTargets
  private readonly cfg: Config['proxy']
  private readonly serviceAuth: ServiceAuth
  private readonly auth: AuthVerifier
  private readonly log: Logger
  private readonly rewriter?: ResponseRewriter
  private readonly transport = new UpstreamTransport()

  constructor(opts: ServiceProxyOptions) {
    this.cfg = opts.cfg
    this.serviceAuth = opts.serviceAuth
    this.auth = opts.auth
    this.log = opts.log
    this.rewriter = opts.rewriter
    this.targets = new ServiceTargets({ services: opts.cfg.services, identity: opts.identity, guard: opts.cfg.ssrfGuard })
    logServices(opts.cfg.services, opts.log)
  }

  /**
   * Whether a call to `nsid`, which this server serves, is forwarded instead: the preference methods when the header
   * names another service than the configured AppView. With no AppView configured they are always served here
   * (the reference would not serve them at all then; a dev server keeps its preferences).
   */
  takesOver(nsid: string, req: Request): boolean {
    const header = proxyHeader(req)
    return (
      SERVED_UNLESS_PROXIED.has(nsid) &&
      header !== undefined &&
      this.targets.hasAppView &&
      !this.targets.namesConfiguredAppView(header)
    )
  }

  /**
   * Forwards the call and streams the answer into `res`. Throws (before anything is sent) the XRPC errors of the
   * reference: InvalidRequest for a bad method, header, destination or endpoint, InvalidToken for protected and
   * privileged methods, auth errors, 413 for a body over PDS_PROXY_MAX_REQUEST_BYTES, 502 UpstreamFailure and 504
   * UpstreamTimeout, and the upstream's own XRPC error (UpstreamResponseError).
   */
  async forward(req: Request, res: Response, nsid: string): Promise<void> {
    const { user, choice } = await this.admit(req, res, nsid)
    const target = await this.targets.resolve(choice)
    const token = await this.tokenFor(user.did, target, nsid, req)
    // Only the configured AppView's answers: they are the ones that lag the user's writes, and rewriting costs CPU
    // (parsing and validating up to MAX_REWRITE_BYTES) that a service of the caller's choosing must not get to spend.
    const rewritable = (this.rewriter?.methods.has(nsid) ?? false) && this.targets.isConfiguredAppView(target)
    const withBody = req.method === 'POST'
    const clientGone = abortWhenClosed(res)
    let upstream: IncomingMessage
    try {
      upstream = await this.transport.send({
        url: xrpcUrl(target, nsid, req.originalUrl),
        method: req.method,
        headers: {
          // The rewriter must be able to read the answer: ask for it unencoded.
          ...forwardedRequestHeaders(req.headers, { withBody, acceptEncoding: rewritable ? 'identity' : undefined }),
          authorization: `Bearer ${token}`,
        },
        body: withBody ? req : undefined,
        maxBodyBytes: this.cfg.maxRequestBytes,
        guarded: target.guarded,
        timeoutMs: this.cfg.timeoutMs,
        signal: clientGone,
      })
    } catch (err) {
      if (clientGone.aborted) return // nobody is left to answer
      throw err
    }
    const params = new URLSearchParams(queryOf(req.originalUrl))
    if ((upstream.statusCode ?? 502) >= 400) {
      const err = await upstreamResponseError(upstream)
      const answer = rewritable ? await this.rewriteError(nsid, user.did, params, upstream, err) : undefined
      if (!answer) throw err
      res.status(200).set(answer.headers ?? {}).json(answer.body)
      return
    }
    // Which side failed first, when an answer breaks off: the client leaving is nobody's fault, the upstream failing
    // is the operator's business.
    let upstreamFailedFirst = false
    upstream.once('close', () => {
      if (!clientGone.aborted && !upstream.complete) upstreamFailedFirst = true
    })
    try {
      if (this.rewriter && rewritable && isRewritable(upstream) && this.isBehind(user.did, upstream)) {
        await sendRewritten({ rewriter: this.rewriter, nsid, did: user.did, params, upstream, res, log: this.log })
      } else {
        sendHead(res, upstream)
        await pipeline(upstream, res)
      }
    } catch (err) {
      // The client left first: nobody to answer, nothing wrong upstream.
      if (clientGone.aborted && !upstreamFailedFirst) return
      // Failing before anything was written (the rewriter's buffering): the upstream's fault, said as such.
      if (!res.headersSent) {
        throw err instanceof PdsError ? err : new UpstreamFailureError(`Upstream answer failed (${describeNetworkError(err)})`)
      }
      // The answer had begun: all that is left is to cut it short (pipeline destroyed both sides), and say why.
      this.log.warn({ nsid, err: describeNetworkError(err) }, 'proxied answer cut short: the upstream failed mid-answer')
    }
  }

  /** Whether the caller wrote after the rev the upstream answered from (the rewriter's cheap check, if it has one). */
  private isBehind(did: string, upstream: IncomingMessage): boolean {
    const rev = upstream.headers['atproto-repo-rev']
    return typeof rev === 'string' && (this.rewriter?.behind?.(did, rev) ?? true)
  }

  /** The rewriter's answer in place of the upstream's error `err`; undefined (pass `err` on) if none, or if it fails. */
  private async rewriteError(
    nsid: string,
    did: string,
    params: URLSearchParams,
    upstream: IncomingMessage,
    err: UpstreamResponseError,
  ): Promise<RewrittenAnswer | undefined> {
    if (!this.rewriter?.rewriteError) return undefined
    try {
      return await this.rewriter.rewriteError({ nsid, did, params, upstreamHeaders: toHeaders(upstream.headers), error: err.error })
    } catch (e) {
      this.log.error({ err: e, nsid }, 'response rewriter failed on an error answer; passing the error on')
      return undefined
    }
  }

  /**
   * The service JWT for the call: for `target`'s DID and `nsid`, except getFeed's, which is for the feed's generator
   * and its getFeedSkeleton (looked up at the configured AppView, else at `target`; see feed-generator.ts).
   */
  private async tokenFor(iss: string, target: ServiceTarget, nsid: string, req: Request): Promise<string> {
    if (nsid !== GET_FEED) return this.serviceAuth.create(iss, target.did, nsid)
    const generator = await feedGeneratorDid({
      transport: this.transport,
      serviceAuth: this.serviceAuth,
      iss,
      appView: this.targets.appView ?? target,
      feed: new URLSearchParams(queryOf(req.originalUrl)).get('feed'),
      timeoutMs: this.cfg.timeoutMs,
    })
    return this.serviceAuth.create(iss, generator, GET_FEED_SKELETON)
  }

  /**
   * Everything that may refuse a call before any network or body: the HTTP method, the NSID, the deny-list, the
   * destination, the caller's credentials (a login, any app password, an OAuth token) and, for chat, a session's
   * privilege; an OAuth token's `rpc:<nsid>?aud=<did#service>` permission (ScopeMissingError, 403).
   */
  private async admit(
    req: Request,
    res: Response,
    nsid: string,
  ): Promise<{ user: AccountCredentials; choice: ServiceChoice }> {
    if (!PROXIED_HTTP_METHODS.has(req.method)) throw new InvalidRequestError('XRPC requests only supports GET and POST')
    if (!isValidNsid(nsid)) throw new InvalidRequestError('invalid xrpc path')
    const lxm = nsid.toLowerCase()
    const header = proxyHeader(req)
    const type = await lexiconMethodType(nsid)
    const expected = type === 'query' ? ['GET', 'HEAD'] : type === 'procedure' ? ['POST'] : undefined
    if (expected && !expected.includes(req.method)) {
      throw new InvalidRequestError(`Incorrect HTTP method (${req.method}) expected ${expected[0]}`)
    }
    // A com.atproto method of the protocol that this server does not serve (yet): saying so beats "no service",
    // since no other service would serve it either.
    if (type && !header && lxm.startsWith('com.atproto.') && !this.targets.hasDefaultFor(nsid)) {
      throw new MethodNotImplementedError(`${nsid} is not served by this PDS`)
    }
    // Account management is done here or nowhere: never on a service's word that we asked for it.
    if (PROTECTED_METHODS.has(lxm)) throw new InvalidRequestError('Bad token method', 'InvalidToken')
    const choice = this.targets.choose(nsid, header)
    const user = userOf(await this.auth.verify('access', req, res))
    if (user.type === 'oauth') {
      // The scope's audience is the service with its fragment (the reference's did#serviceId), though the service
      // JWT we sign names the bare DID; the JWT is for this one method, which is what was checked.
      const aud = this.targets.rpcAudience(nsid, header)
      if (aud === undefined) throw new InvalidRequestError(`No service configured for ${nsid}`)
      user.permissions.assertRpc({ aud, lxm: nsid })
      // getFeed is answered with a getFeedSkeleton token for the feed's generator (tokenFor): that must be allowed too.
      if (nsid === GET_FEED) user.permissions.assertRpc({ aud, lxm: GET_FEED_SKELETON })
    } else if (isPrivilegedMethod(lxm) && !isPrivilegedScope(user.scope)) {
      throw new InvalidRequestError('Bad token method', 'InvalidToken')
    }
    if (req.method === 'POST' && Number(req.headers['content-length'] ?? 0) > this.cfg.maxRequestBytes) {
      throw new PayloadTooLargeError(`Request body larger than ${this.cfg.maxRequestBytes} bytes`)
    }
    return { user, choice }
  }

  /**
   * POSTs a JSON procedure to `target` for the user `did` (registerPush). Resolves when the service accepted it;
   * throws the errors `forward` throws for the upstream call.
   */
  async procedure(did: string, target: ServiceTarget, nsid: string, input: unknown): Promise<void> {
    const body = Buffer.from(JSON.stringify(input), 'utf8')
    const upstream = await this.transport.send({
      url: xrpcUrl(target, nsid, ''),
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(body.length),
        authorization: `Bearer ${await this.serviceAuth.create(did, target.did, nsid)}`,
      },
      body,
      guarded: target.guarded,
      timeoutMs: this.cfg.timeoutMs,
    })
    if ((upstream.statusCode ?? 502) >= 400) throw await upstreamResponseError(upstream)
    upstream.resume()
  }

  /** Closes pooled upstream connections (server shutdown). */
  close(): void {
    this.transport.close()
  }
}

/** Says at startup where forwarded calls go, and which have nowhere to go (dev mode, by default). */
function logServices(services: Config['proxy']['services'], log: Logger): void {
  const where = { appView: services.appView?.url ?? null, chat: services.chat?.url ?? null, modService: services.modService?.url ?? null }
  const unset = [
    services.appView ? null : 'PDS_BSKY_APP_VIEW_URL/_DID (app.bsky.*)',
    services.chat ? null : 'PDS_CHAT_URL/_DID (chat.bsky.*)',
    services.modService ? null : 'PDS_MOD_SERVICE_URL/_DID (reports)',
  ].filter((x) => x !== null)
  if (unset.length === 0) log.info(where, 'forwarding to the configured services')
  else log.info(where, `no service to forward to for: ${unset.join(', ')}; those calls answer 400 unless they name one`)
}

/** 'query' or 'procedure' for a method of the published lexicons; undefined for any other NSID. */
async function lexiconMethodType(nsid: string): Promise<'query' | 'procedure' | undefined> {
  const type = (await loadLexicons()).getDef(nsid)?.type
  return type === 'query' || type === 'procedure' ? type : undefined
}

/** The atproto-proxy header; an empty one counts as absent, as in the reference. */
function proxyHeader(req: Request): string | undefined {
  return req.header('atproto-proxy') || undefined
}

/** `<target origin>/xrpc/<nsid>` with the query of the client's request; built, not copied, so no path escapes. */
function xrpcUrl(target: ServiceTarget, nsid: string, originalUrl: string): URL {
  const url = new URL(`/xrpc/${nsid}`, target.url)
  url.search = queryOf(originalUrl)
  return url
}

function queryOf(originalUrl: string): string {
  const q = originalUrl.indexOf('?')
  return q === -1 ? '' : originalUrl.slice(q)
}

/** A signal that fires when the client's connection closes before its answer was sent. */
function abortWhenClosed(res: Response): AbortSignal {
  const ac = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) ac.abort()
  })
  return ac.signal
}
