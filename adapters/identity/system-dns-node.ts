// The machine's resolver for handle resolution under Node (`#system-dns`): node:dns, whose c-ares codes
// functions/atproto/identity/dns-answer.ts reads. Workers get system-dns-doh.ts instead.
import { promises as dns } from 'node:dns';

export const systemDns = {
  resolveTxt: (name: string): Promise<string[][]> => dns.resolveTxt(name),
  lookupHost: (host: string): Promise<unknown> => dns.lookup(host),
};
