// The resolver for handle resolution on Web runtimes (`#system-dns`; Workers): skytide's own DoH client
// (doh-client.ts) through the platform's fetch, not workerd's node:dns, which reports a SERVFAIL or REFUSED answer,
// and any failure of its lookup(), as ENOTFOUND: a verdict where there was an outage (functions/atproto/identity/dns-answer.ts).
import { createDohClient } from './doh-client.ts';

const doh = createDohClient({ fetch: (input, init) => globalThis.fetch(input, init) });

export const systemDns = {
  resolveTxt: (name: string): Promise<string[][]> => doh.resolveTxt(name),
  lookupHost: (host: string): Promise<unknown> => doh.lookup(host),
};
