// Which IP addresses a URL from the network may make us connect to. Promises: an address passes only when it is
// ordinary global unicast: not in any IANA special-purpose range that is not globally reachable (IPv4 and IPv6
// registries, RFC 6890 and its updates), not multicast, not reserved, and for IPv6 inside 2000::/3, the only block
// allocated for global unicast. The IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, NAT64
// 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32) are judged by the IPv4 addresses they embed, so
// `[::ffff:127.0.0.1]` and `[64:ff9b::10.0.0.1]` are as internal as `127.0.0.1` and `10.0.0.1`; IPv4-compatible
// `::a.b.c.d` (deprecated) and local-use NAT64 64:ff9b:1::/48 never pass.
//
// NOTE: a few special ranges that IANA marks globally reachable (AS112 sinks, AMT relays, the PCP and TURN anycast
// addresses inside 192.0.0.0/24 and 2001::/23) are refused too: no PDS or DID document host lives there, and one
// rule ("plain unicast only") is easier to trust than an exception list.
//
// The ranges come from ipaddr.js (a maintained table); this module adds only the embedded-IPv4 rules and 2000::/3.
// It is pure: no DNS, no sockets (the Node guard, guarded-fetch-node.ts, applies it to every answer it connects to).
import ipaddr from 'ipaddr.js';

export type AddressVerdict = { public: true } | { public: false; range: string };

const PUBLIC: AddressVerdict = { public: true };
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

function v4FromParts(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([(high >> 8) & 0xff, high & 0xff, (low >> 8) & 0xff, low & 0xff]);
}

function judgeV4(address: ipaddr.IPv4): AddressVerdict {
  const range = address.range();
  return range === 'unicast' ? PUBLIC : { public: false, range };
}

/** An IPv6 form that routes to embedded IPv4 hosts is as public as the least public of them. */
function judgeEmbedded(form: string, embedded: readonly ipaddr.IPv4[]): AddressVerdict {
  for (const v4 of embedded) {
    const verdict = judgeV4(v4);
    if (!verdict.public) return { public: false, range: `${form} of ${v4.toString()} (${verdict.range})` };
  }
  return PUBLIC;
}

function judgeV6(address: ipaddr.IPv6): AddressVerdict {
  const range: string = address.range();
  const p = address.parts;
  switch (range) {
    case 'ipv4Mapped':
      return judgeEmbedded('ipv4Mapped', [address.toIPv4Address()]);
    case 'rfc6052':
      // 64:ff9b::/96 is the well-known NAT64 prefix (RFC 6052); 64:ff9b:1::/48 is for local use (RFC 8215).
      return address.match(NAT64_WELL_KNOWN) ? judgeEmbedded('nat64', [v4FromParts(p[6]!, p[7]!)]) : { public: false, range: 'nat64LocalUse' };
    case '6to4':
      return judgeEmbedded('6to4', [v4FromParts(p[1]!, p[2]!)]);
    case 'teredo':
      // RFC 4380: the Teredo server's IPv4 in bits 32-63, the client's (obfuscated by XOR) in bits 96-127.
      return judgeEmbedded('teredo', [v4FromParts(p[2]!, p[3]!), v4FromParts(~p[6]! & 0xffff, ~p[7]! & 0xffff)]);
    case 'unicast':
      if (address.match(IPV4_COMPATIBLE)) return { public: false, range: 'ipv4Compatible' };
      return address.match(GLOBAL_UNICAST) ? PUBLIC : { public: false, range: 'notGlobalUnicast' };
    default:
      return { public: false, range };
  }
}

/**
 * The verdict on one address: dotted-quad IPv4 or any IPv6 form. DNS answers and URL hosts come in these forms; the
 * legacy shorthands (`127.1`, `0x7f000001`) are not addresses here, so they are not public either.
 */
export function judgeAddress(ip: string): AddressVerdict {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return judgeV4(ipaddr.IPv4.parse(ip));
  if (ipaddr.IPv6.isValid(ip)) return judgeV6(ipaddr.IPv6.parse(ip));
  return { public: false, range: 'notAnAddress' };
}

export function isPublicAddress(ip: string): boolean {
  return judgeAddress(ip).public;
}
