// The SSRF guard: a DID document is anyone's to write, so the endpoints it names must not turn this server into a
// way into the network it runs in. Outside dev mode (PDS_PROXY_SSRF_GUARD) such an endpoint must be https, and the
// address the socket connects to must be public. The address is checked in the socket's own DNS lookup, at connect
// time: a name that resolved to a public address when checked and to 127.0.0.1 a moment later (DNS rebinding) is
// still refused, because the checked answer is the one connected to.
import dns from 'node:dns'
import { isIP, type LookupFunction } from 'node:net'
import { InvalidRequestError } from '../errors.ts'
import { classifyAddress } from './address-class.ts'

/** A lookup (or an IP literal) gave an address the guard refuses. */
export class NonPublicAddressError extends Error {
  readonly code = 'ERR_NON_PUBLIC_ADDRESS'
  readonly hostname: string
  readonly address: string

  constructor(hostname: string, address: string) {
    super(`${hostname} resolves to ${address}, a ${classifyAddress(address) ?? 'invalid'} address`)
    this.hostname = hostname
    this.address = address
  }
}

/**
 * node:dns lookup for sockets (http.Agent's `lookup`) that fails with NonPublicAddressError when any address of
 * the name is not public: a name mixing public and private addresses is refused whole rather than filtered.
 * Answers in both shapes net.connect asks for (`all: true` with happy eyeballs, a single address without).
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '')
    const refused = addresses.find((a) => classifyAddress(a.address) !== 'public')
    if (refused || addresses.length === 0) {
      return callback(new NonPublicAddressError(hostname, refused?.address ?? 'no address'), '')
    }
    if (options.all) return callback(null, addresses)
    callback(null, addresses[0].address, addresses[0].family)
  })
}

/**
 * The origin to send to for an endpoint URL taken from a DID document, or InvalidRequest: not http(s), carries
 * credentials, or, with `guard`, not https or an IP literal that is not public (sockets skip the lookup for those,
 * so they are checked here). Names are checked by guardedLookup when the socket connects.
 */
export function checkEndpoint(endpoint: string, guard: boolean): URL {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new InvalidRequestError(`service endpoint is not a URL: ${endpoint}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidRequestError(`service endpoint is not an http(s) URL: ${endpoint}`)
  }
  if (url.username || url.password) throw new InvalidRequestError('service endpoint must not carry credentials')
  if (guard) {
    if (url.protocol !== 'https:') throw new InvalidRequestError(`service endpoint must use https: ${url.origin}`)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    if (isIP(host) && classifyAddress(host) !== 'public') {
      throw new InvalidRequestError(`service endpoint refused: ${new NonPublicAddressError(url.hostname, host).message}`)
    }
  }
  return new URL(url.origin)
}
