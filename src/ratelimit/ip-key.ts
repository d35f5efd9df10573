// Whose budget a client address spends. An IPv6 subscriber usually gets a whole /64 (SLAAC, privacy addresses
// rotating inside it), so counting per address would hand one client 2^64 budgets: IPv6 counts per /64.
import net from 'node:net'

/**
 * The rate-limit key of a client address (as `RateLimiter.clientIp` gives it): IPv4 as is; IPv6 folded to its /64,
 * written `<first four groups, lower-case hex>::/64` (`2001:db8:0:1::/64`). Anything else is returned unchanged.
 */
export function ipKey(ip: string): string {
  const addr = ip.replace(/%.*$/, '') // a zone (fe80::1%eth0) names an interface, not a network
  if (!net.isIPv6(addr)) return ip
  const groups = expandIpv6(addr)
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail turned into two groups). */
function expandIpv6(addr: string): number[] {
  const parse = (part: string): number[] => {
    if (!part) return []
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)]
      const [a, b, c, d] = g.split('.').map(Number)
      return [(a << 8) | b, (c << 8) | d]
    })
  }
  const [head, tail] = addr.split('::')
  const left = parse(head)
  if (tail === undefined) return left
  const right = parse(tail)
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
}
