// What kind of IP address a socket would connect to, for the SSRF guard: only globally reachable unicast addresses
// are "public". Works on the bytes, so every spelling of an address (::ffff:7f00:1, ::ffff:127.0.0.1, fe80::1%eth0)
// gets the class of what it means, and IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4) get the class of
// that IPv4 address. Ranges: the IANA IPv4 and IPv6 special-purpose address registries (RFC 6890 and successors).
import { isIPv4, isIPv6 } from 'node:net'

export type AddressClass =
  | 'public'
  | 'unspecified' // 0.0.0.0/8, ::
  | 'loopback' // 127/8, ::1
  | 'private' // RFC 1918, and local-use NAT64 (64:ff9b:1::/48)
  | 'sharedAddressSpace' // 100.64/10, carrier-grade NAT
  | 'linkLocal' // 169.254/16, fe80::/10
  | 'uniqueLocal' // fc00::/7
  | 'siteLocal' // fec0::/10 (deprecated, still routed inside some networks)
  | 'multicast' // 224/4, ff00::/8
  | 'broadcast' // 255.255.255.255
  | 'documentation' // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  | 'benchmarking' // 198.18/15
  | 'reserved' // everything else that is not global unicast: 240/4, 192.0.0/24, 2001::/23, outside 2000::/3, …

type Range = { bytes: readonly number[]; bits: number; cls: AddressClass }

const range = (bytes: number[], bits: number, cls: AddressClass): Range => ({ bytes, bits, cls })

// First match wins, so narrower ranges come before the wider ones that contain them.
const V4_RANGES: readonly Range[] = [
  range([255, 255, 255, 255], 32, 'broadcast'),
  range([0], 8, 'unspecified'),
  range([10], 8, 'private'),
  range([100, 64], 10, 'sharedAddressSpace'),
  range([127], 8, 'loopback'),
  range([169, 254], 16, 'linkLocal'),
  range([172, 16], 12, 'private'),
  range([192, 0, 0], 24, 'reserved'),
  range([192, 0, 2], 24, 'documentation'),
  range([192, 88, 99], 24, 'reserved'), // the retired 6to4 relay anycast
  range([192, 168], 16, 'private'),
  range([198, 18], 15, 'benchmarking'),
  range([198, 51, 100], 24, 'documentation'),
  range([203, 0, 113], 24, 'documentation'),
  range([224], 4, 'multicast'),
  range([240], 4, 'reserved'),
]

// Only 2000::/3 holds global unicast; these are the special ranges inside it, and the local ones outside it that
// have a class of their own. Anything else outside 2000::/3 is 'reserved' (including the deprecated
// IPv4-compatible ::a.b.c.d).
const V6_RANGES: readonly Range[] = [
  range([0x20, 0x01, 0x0d, 0xb8], 32, 'documentation'),
  range([0x20, 0x01, 0x00], 23, 'reserved'), // IETF protocol assignments: Teredo, benchmarking, ORCHID, …
  range([0x3f, 0xff], 20, 'documentation'),
  range([0x5f, 0x00], 16, 'reserved'), // SRv6 segment identifiers
  range([0xfc], 7, 'uniqueLocal'),
  range([0xfe, 0x80], 10, 'linkLocal'),
  range([0xfe, 0xc0], 10, 'siteLocal'),
  range([0xff], 8, 'multicast'),
  range([0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'private'), // local-use NAT64
]

/** The class of `ip` (IPv4 dotted quad or IPv6, with or without brackets or a zone); null if it is not an IP. */
export function classifyAddress(ip: string): AddressClass | null {
  const bytes = parseIp(ip)
  if (!bytes) return null
  return bytes.length === 4 ? classifyV4(bytes) : classifyV6(bytes)
}

/** Whether a connection to `ip` could only reach a globally routed host: the SSRF guard's test. */
export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === 'public'
}

function classifyV4(b: Uint8Array): AddressClass {
  return V4_RANGES.find((r) => inRange(b, r))?.cls ?? 'public'
}

function classifyV6(b: Uint8Array): AddressClass {
  const first96Zero = b.subarray(0, 10).every((x) => x === 0)
  if (first96Zero && b[10] === 0 && b[11] === 0) {
    const last = b[15]
    const restZero = b.subarray(12, 15).every((x) => x === 0)
    if (restZero && last === 0) return 'unspecified'
    if (restZero && last === 1) return 'loopback'
    return 'reserved' // IPv4-compatible (::a.b.c.d): deprecated, never a real destination
  }
  // Forms a host or gateway turns into a connection to the IPv4 address they carry.
  if (first96Zero && b[10] === 0xff && b[11] === 0xff) return classifyV4(b.subarray(12)) // ::ffff:a.b.c.d
  if (startsWith(b, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) return classifyV4(b.subarray(12)) // NAT64
  if (b[0] === 0x20 && b[1] === 0x02) return classifyV4(b.subarray(2, 6)) // 6to4
  const special = V6_RANGES.find((r) => inRange(b, r))
  if (special) return special.cls
  return (b[0] & 0xe0) === 0x20 ? 'public' : 'reserved'
}

function startsWith(b: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((x, i) => b[i] === x)
}

function inRange(b: Uint8Array, r: Range): boolean {
  let bits = r.bits
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff
    if ((b[i] & mask) !== ((r.bytes[i] ?? 0) & mask)) return false
  }
  return true
}

/** 4 bytes for IPv4, 16 for IPv6; null if `ip` is neither. Brackets and an IPv6 zone (`%eth0`) are ignored. */
export function parseIp(ip: string): Uint8Array | null {
  let s = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip
  if (isIPv4(s)) return Uint8Array.from(s.split('.').map(Number))
  const zone = s.indexOf('%')
  if (zone !== -1) s = s.slice(0, zone)
  if (!isIPv6(s)) return null
  return parseV6(s)
}

// `s` is valid IPv6 (node checked): at most one "::", hex groups, maybe a dotted IPv4 tail.
function parseV6(s: string): Uint8Array {
  const groups: number[][] = s.split('::').map((half) => (half === '' ? [] : half.split(':').flatMap(groupValues)))
  const head = groups[0]
  const tail = groups[1] ?? []
  const words = groups.length === 2 ? [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail] : head
  const out = new Uint8Array(16)
  words.forEach((w, i) => {
    out[2 * i] = w >> 8
    out[2 * i + 1] = w & 0xff
  })
  return out
}

/** One colon-separated piece as 16-bit words: a hex group is one, a dotted IPv4 tail two. */
function groupValues(piece: string): number[] {
  if (!piece.includes('.')) return [parseInt(piece, 16)]
  const [a, b, c, d] = piece.split('.').map(Number)
  return [(a << 8) | b, (c << 8) | d]
}
