// Where a forwarded request goes, as the reference decides it (@atproto/pds pipethrough.js, parseProxyHeader and
// defaultService): the service an `atproto-proxy: <did>#<service id>` header names, found in that DID's document;
// without the header, the configured service for the method's namespace. Choosing is split from resolving so that
// every check that needs no network runs before the caller's credentials are verified, and every DID resolution
// after: an anonymous client can make us resolve nothing.
import { isValidDid } from '@atproto/syntax'
import { getNotifEndpoint, getServiceEndpoint, type DidDocument } from '@atproto/common-web'
import type { Config, ProxyService } from '../config/index.ts'
import { InvalidRequestError, UpstreamFailureError } from '../errors.ts'
import type { IdentityResolver } from '../identity/resolver.ts'
import { describeNetworkError } from '../util/net.ts'
import { checkEndpoint } from './ssrf.ts'

/** A resolved destination. */
export type ServiceTarget = {
  /** The service's DID, without fragment: the `aud` of the service JWT (as the reference sets it). */
  did: string
  /** Its origin. */
  url: URL
  /** From a DID document, so under the SSRF guard (if on); false for the operator's configured services. */
  guarded: boolean
}

/** A destination chosen but not resolved yet: a configured service, or a DID document's service to look up. */
export type ServiceChoice = { configured: ServiceTarget } | { did: string; serviceId: string }

type Services = Config['proxy']['services']

/**
 * The configured service for methods sent without a header (the reference: AppView for all but moderation), and the
 * id of that service in its DID document (what an OAuth `rpc:` scope's `aud=<did>#<id>` names).
 */
const DEFAULT_SERVICES: readonly {
  matches: (nsid: string) => boolean
  service: keyof Services
  serviceId: string
  env: string
}[] = [
  {
    matches: (n) => n === 'com.atproto.moderation.createreport',
    service: 'modService',
    serviceId: 'atproto_labeler',
    env: 'PDS_MOD_SERVICE',
  },
  { matches: (n) => n.startsWith('app.bsky.'), service: 'appView', serviceId: 'bsky_appview', env: 'PDS_BSKY_APP_VIEW' },
  { matches: (n) => n.startsWith('chat.bsky.'), service: 'chat', serviceId: 'bsky_chat', env: 'PDS_CHAT' },
]
const APP_VIEW_DEFAULT = DEFAULT_SERVICES.find((d) => d.service === 'appView')!

export class ServiceTargets {
  private readonly services: Services
  private readonly identity: IdentityResolver
  private readonly guard: boolean

  constructor(opts: { services: Services; identity: IdentityResolver; guard: boolean }) {
    this.services = opts.services
    this.identity = opts.identity
    this.guard = opts.guard
  }

  /**
   * The destination of a call to `nsid` with `header` (the atproto-proxy value, if sent). No network. InvalidRequest
   * for a malformed header (the reference's messages), and for a method with no header and no service: naming the
   * variables that would configure one, where there are some.
   */
  choose(nsid: string, header: string | undefined): ServiceChoice {
    if (header !== undefined) {
      const { did, serviceId } = parseProxyHeader(header)
      // The reference's special case: its own AppView is used as configured, without resolving its DID.
      if (this.services.appView && this.namesConfiguredAppView(header)) {
        return { configured: configuredTarget(this.services.appView) }
      }
      return { did, serviceId }
    }
    const dflt = DEFAULT_SERVICES.find((d) => d.matches(nsid.toLowerCase()))
    const service = dflt && this.services[dflt.service]
    if (service) return { configured: configuredTarget(service) }
    if (!dflt) throw new InvalidRequestError(`No service configured for ${nsid}`)
    throw new InvalidRequestError(`${notConfigured(nsid, dflt.env)}, or send an atproto-proxy header`)
  }

  /**
   * The `did#service` a call to `nsid` is for, as an OAuth `rpc:` permission's audience (the reference's
   * computeProxyTo): the atproto-proxy `header` as sent, else the configured default service for the method's
   * namespace, and for any other method the AppView (where the reference sends the com.atproto.identity reads we
   * answer ourselves); undefined when there is no such service. No network.
   */
  rpcAudience(nsid: string, header: string | undefined): string | undefined {
    if (header !== undefined) return header
    const dflt = DEFAULT_SERVICES.find((d) => d.matches(nsid.toLowerCase())) ?? APP_VIEW_DEFAULT
    const service = this.services[dflt.service]
    return service ? `${service.did}#${dflt.serviceId}` : undefined
  }

  /** The chosen destination with its endpoint: the DID document is read (and the endpoint checked) if needed. */
  async resolve(choice: ServiceChoice): Promise<ServiceTarget> {
    if ('configured' in choice) return choice.configured
    const doc = await this.didDoc(choice.did, 'could not resolve proxy did')
    const endpoint = getServiceEndpoint(doc, { id: choice.serviceId })
    if (!endpoint) throw new InvalidRequestError('could not resolve proxy did service url')
    return { did: choice.did, url: checkEndpoint(endpoint, this.guard), guarded: this.guard }
  }

  /**
   * Where a push (un)registration `nsid` for `serviceDid` goes (the reference's registerPush): the configured
   * AppView when it is that DID, else the `#bsky_notif` service of its document. InvalidRequest if there is none,
   * and without an AppView (the reference does not serve the method then).
   */
  async notificationService(serviceDid: string, nsid: string): Promise<ServiceTarget> {
    const appView = this.services.appView
    if (!appView) throw new InvalidRequestError(notConfigured(nsid, 'PDS_BSKY_APP_VIEW'))
    if (appView.did === serviceDid) return configuredTarget(appView)
    const doc = await this.didDoc(serviceDid, `could not resolve did document: ${serviceDid}`)
    const endpoint = getNotifEndpoint(doc)
    if (!endpoint) {
      throw new InvalidRequestError(`invalid notification service details in did document: ${serviceDid}`)
    }
    return { did: serviceDid, url: checkEndpoint(endpoint, this.guard), guarded: this.guard }
  }

  /** Whether `header` names the configured AppView, as the reference's preferences handlers compare it. */
  namesConfiguredAppView(header: string): boolean {
    return this.services.appView !== undefined && header === `${this.services.appView.did}#bsky_appview`
  }

  get hasAppView(): boolean {
    return this.services.appView !== undefined
  }

  /** Whether `nsid` has a default destination (configured or not): its namespace's service. */
  hasDefaultFor(nsid: string): boolean {
    const lower = nsid.toLowerCase()
    return DEFAULT_SERVICES.some((d) => d.matches(lower))
  }

  /** Whether `target` is the configured AppView (not a service a DID document named). */
  isConfiguredAppView(target: ServiceTarget): boolean {
    const appView = this.services.appView
    return !!appView && !target.guarded && target.did === appView.did && target.url.origin === new URL(appView.url).origin
  }

  /** The configured AppView, if any. */
  get appView(): ServiceTarget | undefined {
    return this.services.appView && configuredTarget(this.services.appView)
  }

  /**
   * The DID document; InvalidRequest (`notFound`) when there is none, InvalidRequest for a malformed DID or
   * document, UpstreamFailure when its directory or host cannot be reached.
   */
  private async didDoc(did: string, notFound: string): Promise<DidDocument> {
    let doc: unknown
    try {
      doc = await this.identity.didDoc(did)
    } catch (err) {
      const kind = (err as Error)?.constructor?.name
      if (kind === 'PoorlyFormattedDidDocumentError') throw new InvalidRequestError(`invalid did document: ${did}`)
      if (kind === 'PoorlyFormattedDidError' || kind === 'UnsupportedDidMethodError' || kind === 'UnsupportedDidWebPathError') {
        throw new InvalidRequestError(`unsupported or malformed DID: ${did}`)
      }
      throw new UpstreamFailureError(`could not resolve ${did}: ${describeNetworkError(err)}`)
    }
    if (!doc) throw new InvalidRequestError(notFound)
    return doc as DidDocument // validated by the resolver
  }
}

/**
 * `<did>#<service id>`, checked as the reference checks it, and the DID's syntax too (the reference leaves that to
 * the resolver, which answers a 500).
 */
export function parseProxyHeader(header: string): { did: string; serviceId: string } {
  const hash = header.indexOf('#')
  if (hash === 0) throw new InvalidRequestError('no did specified in proxy header')
  if (hash === -1 || hash === header.length - 1) throw new InvalidRequestError('no service id specified in proxy header')
  if (header.indexOf('#', hash + 1) !== -1) throw new InvalidRequestError('invalid proxy header format')
  if (header.includes(' ')) throw new InvalidRequestError('proxy header cannot contain spaces')
  const did = header.slice(0, hash)
  if (!isValidDid(did)) throw new InvalidRequestError(`invalid DID in proxy header: ${did}`)
  return { did, serviceId: header.slice(hash) }
}

function configuredTarget(service: ProxyService): ServiceTarget {
  return { did: service.did, url: new URL(service.url), guarded: false }
}

function notConfigured(nsid: string, env: string): string {
  return `No service configured for ${nsid}: set ${env}_URL and ${env}_DID`
}
