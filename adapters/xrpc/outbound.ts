// Outbound-address rules for URLs that come from the network (DID documents, PDS endpoints): https only, and never a
// loopback, private, link-local or otherwise internal address, checked on the resolved addresses.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SkytideError } from '../../functions/errors.ts';

function isPrivateV4(ip: string): boolean {
  const [a = 0, b = 0] = ip.split('.').map(Number);
  return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
}

function isPrivateV6(ip: string): boolean {
  const v = ip.toLowerCase();
  if (v === '::1' || v === '::') return true;
  if (v.startsWith('::ffff:')) return isPrivateV4(v.slice(7));
  return v.startsWith('fc') || v.startsWith('fd') || v.startsWith('fe80') || v.startsWith('ff');
}

export function isPrivateAddress(ip: string): boolean {
  return isIP(ip) === 4 ? isPrivateV4(ip) : isPrivateV6(ip);
}

export async function assertPublicUrl(raw: string): Promise<void> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SkytideError('forbidden_address', `not a URL: ${raw}`);
  }
  if (url.protocol !== 'https:') throw new SkytideError('forbidden_address', `refusing a non-https URL from the network: ${url.origin}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) !== 0 ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  if (addresses.length === 0) throw new SkytideError('fetch_failed', `cannot resolve ${host}`);
  const internal = addresses.find(isPrivateAddress);
  if (internal !== undefined) throw new SkytideError('forbidden_address', `refusing ${host}: it resolves to the internal address ${internal}`);
}
