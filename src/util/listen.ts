// Where the HTTP server listens, for the startup log, and whether only this machine can reach it.
import { isIP, type AddressInfo } from 'node:net'

/** 127.0.0.0/8 or ::1 (also as an IPv4-mapped address). */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'))
}

/** E.g. "127.0.0.1:3000 (this machine only)", "[::]:3000 (all interfaces)". */
export function describeListen({ address, port }: AddressInfo): string {
  const hostPort = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`
  if (isLoopbackAddress(address)) return `${hostPort} (this machine only)`
  if (address === '::' || address === '0.0.0.0') return `${hostPort} (all interfaces)`
  return hostPort
}
