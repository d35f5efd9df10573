// DNS: the public hostname must resolve, and to an address relays on the internet can reach.
import dns from 'node:dns/promises'
import net from 'node:net'
import type { Config } from '../../config/index.ts'
import { describeNetworkError } from '../../util/net.ts'
import type { CheckResult } from '../types.ts'

/** node:dns lookup of every address; the default when `DoctorOptions.lookup` is not injected. */
export async function defaultLookup(hostname: string): Promise<string[]> {
  return (await dns.lookup(hostname, { all: true })).map((a) => a.address)
}

export async function checkDns(cfg: Pick<Config, 'publicUrl' | 'devMode'>, lookup: (h: string) => Promise<string[]>): Promise<CheckResult> {
  const host = new URL(cfg.publicUrl).hostname.replace(/^\[|\]$/g, '')
  if (net.isIP(host)) {
    return { id: 'dns', status: cfg.devMode ? 'warn' : 'fail', detail: `${host} is an IP address: nothing to resolve`, fix: 'use a DNS name' }
  }
  let addresses: string[]
  try {
    addresses = await lookup(host)
  } catch (err) {
    return {
      id: 'dns',
      status: cfg.devMode ? 'warn' : 'fail',
      detail: `${host} does not resolve (${(err as { code?: string }).code ?? describeNetworkError(err)})`,
      fix: `create an A (and/or AAAA) record for ${host} pointing at this server, and a wildcard *.${host} for user handles`,
    }
  }
  if (!addresses.length) {
    return { id: 'dns', status: cfg.devMode ? 'warn' : 'fail', detail: `${host} resolves to no address`, fix: `create an A record for ${host}` }
  }
  const privateOnes = addresses.filter(isPrivateAddress)
  if (privateOnes.length === addresses.length && !cfg.devMode) {
    return {
      id: 'dns',
      status: 'warn',
      detail: `${host} resolves only to private addresses (${addresses.join(', ')}): relays on the internet cannot reach them`,
      fix: `point the public DNS record for ${host} at this server's public address`,
    }
  }
  return { id: 'dns', status: 'pass', detail: `${host} resolves to ${addresses.join(', ')}` }
}

function isPrivateAddress(a: string): boolean {
  const v4 = a.replace(/^::ffff:/, '')
  if (net.isIPv4(v4)) {
    const [x, y] = v4.split('.').map(Number)
    return x === 10 || x === 127 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 169 && y === 254)
  }
  const l = a.toLowerCase()
  return l === '::1' || l.startsWith('fc') || l.startsWith('fd') || l.startsWith('fe80')
}
