// The subscription URL for a configured host. A host may carry a scheme: http:// means ws:// (local networks),
// https:// or none means wss://.
export function subscribeUrl(host: string, nsid: string, cursor: number | undefined): string {
  const trimmed = host.replace(/\/+$/, '');
  const base = trimmed.startsWith('http://') ? `ws://${trimmed.slice(7)}`
    : trimmed.startsWith('https://') ? `wss://${trimmed.slice(8)}`
    : /^wss?:\/\//.test(trimmed) ? trimmed
    : `wss://${trimmed}`;
  return `${base}/xrpc/${nsid}${cursor === undefined ? '' : `?cursor=${cursor}`}`;
}
