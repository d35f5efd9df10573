// The SSRF guard's address classifier: every spelling of an address gets the class of what a socket would reach.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { classifyAddress, isPublicAddress, parseIp, type AddressClass } from '../src/proxy/address-class.ts'

function expectClasses(cases: [string, AddressClass | null][]) {
  for (const [ip, cls] of cases) assert.equal(classifyAddress(ip), cls, ip)
}

describe('address classifier: IPv4', () => {
  it('public unicast', () => {
    expectClasses([
      ['1.1.1.1', 'public'],
      ['8.8.8.8', 'public'],
      ['93.184.216.34', 'public'],
      ['223.255.255.255', 'public'],
    ])
  })

  it('range edges: the addresses just outside each private range are public', () => {
    expectClasses([
      ['9.255.255.255', 'public'],
      ['10.0.0.0', 'private'],
      ['10.255.255.255', 'private'],
      ['11.0.0.0', 'public'],
      ['172.15.255.255', 'public'],
      ['172.16.0.0', 'private'],
      ['172.31.255.255', 'private'],
      ['172.32.0.0', 'public'],
      ['192.167.255.255', 'public'],
      ['192.168.0.0', 'private'],
      ['192.168.255.255', 'private'],
      ['192.169.0.0', 'public'],
      ['100.63.255.255', 'public'],
      ['100.64.0.0', 'sharedAddressSpace'],
      ['100.127.255.255', 'sharedAddressSpace'],
      ['100.128.0.0', 'public'],
      ['198.17.255.255', 'public'],
      ['198.18.0.0', 'benchmarking'],
      ['198.19.255.255', 'benchmarking'],
      ['198.20.0.0', 'public'],
    ])
  })

  it('loopback, unspecified, link-local, multicast, broadcast and the rest of the special ranges', () => {
    expectClasses([
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'unspecified'],
      ['169.254.169.254', 'linkLocal'], // cloud metadata
      ['169.254.0.1', 'linkLocal'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['240.0.0.1', 'reserved'],
      ['255.255.255.254', 'reserved'],
      ['255.255.255.255', 'broadcast'],
      ['192.0.0.8', 'reserved'],
      ['192.0.2.1', 'documentation'],
      ['198.51.100.7', 'documentation'],
      ['203.0.113.9', 'documentation'],
      ['192.88.99.1', 'reserved'],
    ])
  })
})

describe('address classifier: IPv6', () => {
  it('global unicast is public, and only 2000::/3 is', () => {
    expectClasses([
      ['2606:4700:4700::1111', 'public'],
      ['2a00:1450:4001:82b::200e', 'public'],
      ['2001:4860:4860::8888', 'public'],
      ['3ffe::1', 'public'],
      ['4000::1', 'reserved'],
      ['1fff::1', 'reserved'],
      ['100::1', 'reserved'], // discard prefix
    ])
  })

  it('loopback, unspecified, link-local, unique-local, site-local, multicast', () => {
    expectClasses([
      ['::1', 'loopback'],
      ['0:0:0:0:0:0:0:1', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1', 'linkLocal'],
      ['febf:ffff::1', 'linkLocal'],
      ['fe80::1%eth0', 'linkLocal'],
      ['fc00::1', 'uniqueLocal'],
      ['fd12:3456:789a::1', 'uniqueLocal'],
      ['fec0::1', 'siteLocal'],
      ['ff02::1', 'multicast'],
      ['ff0e::1', 'multicast'],
    ])
  })

  it('special ranges inside 2000::/3', () => {
    expectClasses([
      ['2001:db8::1', 'documentation'],
      ['3fff::1', 'documentation'],
      ['3fff:0fff::1', 'documentation'],
      ['3fff:1000::1', 'public'],
      ['2001::1', 'reserved'], // Teredo
      ['2001:2::1', 'reserved'], // benchmarking
      ['2001:1ff::1', 'reserved'],
      ['2001:200::1', 'public'], // just past 2001::/23
      ['5f00::1', 'reserved'],
    ])
  })

  it('IPv4-mapped addresses get the class of the IPv4 address, in every spelling', () => {
    expectClasses([
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'], // how the URL parser writes it
      ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
      ['::FFFF:7F00:0001', 'loopback'],
      ['::ffff:10.1.2.3', 'private'],
      ['::ffff:a01:203', 'private'],
      ['::ffff:169.254.169.254', 'linkLocal'],
      ['::ffff:192.168.1.1', 'private'],
      ['::ffff:0.0.0.0', 'unspecified'],
      ['::ffff:8.8.8.8', 'public'],
      ['::ffff:808:808', 'public'],
    ])
  })

  it('other IPv6 forms that carry IPv4: NAT64 and 6to4 follow the IPv4 address; the deprecated ones are refused', () => {
    expectClasses([
      ['64:ff9b::7f00:1', 'loopback'],
      ['64:ff9b::10.0.0.1', 'private'],
      ['64:ff9b::8.8.8.8', 'public'],
      ['64:ff9b:1::1', 'private'], // local-use NAT64
      ['2002:7f00:1::', 'loopback'],
      ['2002:c0a8:101::1', 'private'],
      ['2002:808:808::1', 'public'],
      ['::127.0.0.1', 'reserved'], // IPv4-compatible
      ['::8.8.8.8', 'reserved'],
      ['::ffff:0:127.0.0.1', 'reserved'], // IPv4-translated
    ])
  })

  it('brackets are accepted as URLs write them', () => {
    expectClasses([
      ['[::1]', 'loopback'],
      ['[::ffff:7f00:1]', 'loopback'],
      ['[2606:4700:4700::1111]', 'public'],
    ])
  })
})

describe('address classifier: not addresses', () => {
  it('names and malformed addresses are not classified, and are never public', () => {
    for (const s of ['localhost', 'example.com', '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '::g', '1::2::3', '[::1', '2130706433', '0x7f.1']) {
      assert.equal(classifyAddress(s), null, s)
      assert.equal(isPublicAddress(s), false, s)
    }
  })

  it('parses to the right bytes', () => {
    assert.deepEqual([...parseIp('1.2.3.4')!], [1, 2, 3, 4])
    assert.deepEqual([...parseIp('::1')!], [...new Array(15).fill(0), 1])
    assert.deepEqual([...parseIp('1:2:3:4:5:6:7:8')!], [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8])
    assert.deepEqual([...parseIp('ffff::')!], [0xff, 0xff, ...new Array(14).fill(0)])
    assert.deepEqual([...parseIp('::ffff:1.2.3.4')!], [...new Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4])
    assert.deepEqual([...parseIp('1::1.2.3.4')!], [0, 1, ...new Array(10).fill(0), 1, 2, 3, 4])
  })
})
