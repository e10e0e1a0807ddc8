// Which addresses a URL from the network may reach: every IANA special-purpose range that is not globally reachable
// is refused at both of its ends, and the address just outside each end passes (so the table pins the boundaries,
// not only a sample). IPv6 forms that embed an IPv4 address are judged by that address.
// Registries: https://www.iana.org/assignments/iana-ipv4-special-registry and iana-ipv6-special-registry.
import { describe, expect, it } from 'vitest';
import { isPublicAddress, judgeAddress } from '../../../adapters/xrpc/address-policy.ts';

// [range, first address, last address]
const V4_INTERNAL: [string, string, string][] = [
  ['0.0.0.0/8 "this network"', '0.0.0.0', '0.255.255.255'],
  ['10.0.0.0/8 private', '10.0.0.0', '10.255.255.255'],
  ['100.64.0.0/10 shared (CGN)', '100.64.0.0', '100.127.255.255'],
  ['127.0.0.0/8 loopback', '127.0.0.0', '127.255.255.255'],
  ['169.254.0.0/16 link-local', '169.254.0.0', '169.254.255.255'],
  ['172.16.0.0/12 private', '172.16.0.0', '172.31.255.255'],
  ['192.0.0.0/24 IETF protocol assignments', '192.0.0.0', '192.0.0.255'],
  ['192.0.2.0/24 TEST-NET-1', '192.0.2.0', '192.0.2.255'],
  ['192.88.99.0/24 6to4 relay anycast (deprecated)', '192.88.99.0', '192.88.99.255'],
  ['192.168.0.0/16 private', '192.168.0.0', '192.168.255.255'],
  ['198.18.0.0/15 benchmarking', '198.18.0.0', '198.19.255.255'],
  ['198.51.100.0/24 TEST-NET-2', '198.51.100.0', '198.51.100.255'],
  ['203.0.113.0/24 TEST-NET-3', '203.0.113.0', '203.0.113.255'],
  ['224.0.0.0/4 multicast', '224.0.0.0', '239.255.255.255'],
  ['240.0.0.0/4 reserved, and the limited broadcast', '240.0.0.0', '255.255.255.255'],
];

// Just outside an end of each range above: ordinary unicast.
const V4_PUBLIC = [
  '1.0.0.0', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '126.255.255.255', '128.0.0.0',
  '169.253.255.255', '169.255.0.0', '172.15.255.255', '172.32.0.0', '191.255.255.255', '192.0.1.0', '192.0.3.0',
  '192.88.98.255', '192.88.100.0', '192.167.255.255', '192.169.0.0', '198.17.255.255', '198.20.0.0',
  '198.51.99.255', '198.51.101.0', '203.0.112.255', '203.0.114.0', '223.255.255.255', '8.8.8.8', '1.1.1.1',
];

const V6_INTERNAL: [string, string, string][] = [
  ['::/128 unspecified', '::', '::'],
  ['::1/128 loopback', '::1', '::1'],
  ['::/96 IPv4-compatible (deprecated)', '::2', '::ffff:ffff'],
  ['::ffff:0:0/96 IPv4-mapped of 127.0.0.0/8', '::ffff:127.0.0.0', '::ffff:127.255.255.255'],
  ['::ffff:0:0/96 IPv4-mapped of 10.0.0.0/8', '::ffff:10.0.0.0', '::ffff:a00:0'],
  ['::ffff:0:0/96 IPv4-mapped of 169.254.0.0/16', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe'],
  ['::ffff:0:0:0/96 IPv4-translated', '::ffff:0:0:0', '::ffff:0:ffff:ffff'],
  ['64:ff9b::/96 NAT64 of 127.0.0.1', '64:ff9b::7f00:1', '64:ff9b::127.0.0.1'],
  ['64:ff9b::/96 NAT64 of 192.168.0.0/16', '64:ff9b::192.168.0.0', '64:ff9b::c0a8:ffff'],
  ['64:ff9b::/96 NAT64 of 198.18.0.0/15', '64:ff9b::198.18.0.1', '64:ff9b::198.19.255.255'],
  ['64:ff9b:1::/48 local-use NAT64', '64:ff9b:1::', '64:ff9b:1:ffff:ffff:ffff:ffff:ffff'],
  ['100::/64 discard-only', '100::', '100::ffff:ffff:ffff:ffff'],
  ['2001::/32 Teredo with a private server', '2001:0:a00:1::', '2001:0:c0a8:101:ffff:ffff:ffff:ffff'],
  ['2001::/32 Teredo with a loopback client', '2001:0:808:808::80ff:fffe', '2001:0:808:808:0:0:80ff:fffe'],
  ['2001:1::1/128 and neighbours in 2001::/23', '2001:1::1', '2001:1::3'],
  ['2001:2::/48 benchmarking', '2001:2::', '2001:2:0:ffff:ffff:ffff:ffff:ffff'],
  ['2001:10::/28 ORCHID (deprecated)', '2001:10::', '2001:1f:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['2001:db8::/32 documentation', '2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['2001::/23 the rest of the IETF block', '2001:100::', '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['2002::/16 6to4 of 127.0.0.1', '2002:7f00:1::', '2002:7f00:1:ffff:ffff:ffff:ffff:ffff'],
  ['2002::/16 6to4 of 10.0.0.0/8', '2002:a00::', '2002:aff:ffff::1'],
  ['2002::/16 6to4 of 100.64.0.0/10', '2002:6440::', '2002:647f:ffff::1'],
  ['3fff::/20 documentation', '3fff::', '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['5f00::/16 SRv6 SIDs', '5f00::', '5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['fc00::/7 unique local', 'fc00::', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['fe80::/10 link-local', 'fe80::', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['fec0::/10 site-local (deprecated)', 'fec0::', 'feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['ff00::/8 multicast', 'ff00::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['outside 2000::/3 (unallocated)', '4000::', '1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
];

const V6_PUBLIC = [
  '2606:4700:4700::1111', // a public resolver
  '2a00:1450:4001:80b::200e',
  '2001:200::', // just past 2001::/23
  '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', // just before 2001:db8::/32
  '2001:db9::',
  '3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', // just before 3fff::/20
  '3fff:1000::', // just past it
  '::ffff:8.8.8.8', // IPv4-mapped of a public address
  '64:ff9b::8.8.8.8', // NAT64 of a public address
  '2002:808:808::1', // 6to4 of 8.8.8.8
  '2001:0:808:808::f7f7:f7f7', // Teredo: server 8.8.8.8, client 8.8.8.8
];

describe('address policy: IPv4', () => {
  it.each(V4_INTERNAL)('refuses %s at both ends', (_range, first, last) => {
    expect(judgeAddress(first)).toMatchObject({ public: false });
    expect(judgeAddress(last)).toMatchObject({ public: false });
  });
  it.each(V4_PUBLIC)('lets %s through', (ip) => {
    expect(judgeAddress(ip)).toEqual({ public: true });
  });
});

describe('address policy: IPv6', () => {
  it.each(V6_INTERNAL)('refuses %s at both ends', (_range, first, last) => {
    expect(judgeAddress(first)).toMatchObject({ public: false });
    expect(judgeAddress(last)).toMatchObject({ public: false });
  });
  it.each(V6_PUBLIC)('lets %s through', (ip) => {
    expect(judgeAddress(ip)).toEqual({ public: true });
  });
  it('says which embedded address made an IPv6 form internal', () => {
    expect(judgeAddress('::ffff:127.0.0.1')).toEqual({ public: false, range: 'ipv4Mapped of 127.0.0.1 (loopback)' });
    expect(judgeAddress('64:ff9b::10.1.2.3')).toEqual({ public: false, range: 'nat64 of 10.1.2.3 (private)' });
    expect(judgeAddress('2002:c612:1::1')).toEqual({ public: false, range: '6to4 of 198.18.0.1 (reserved)' });
  });
});

describe('address policy: not an address', () => {
  it.each(['', 'localhost', 'example.com', '1.2.3', '0x7f000001', '::g', '999.1.1.1'])('%j is not public', (s) => {
    expect(isPublicAddress(s)).toBe(false);
  });
});
