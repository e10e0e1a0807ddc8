// A real HTTP server on 127.0.0.1 that answers `GET /<did>` with a DID document, the way the PLC directory does, so
// the real identity resolver (adapters/identity/resolver.ts) can be pointed at it. Tests set documents (a labeler,
// a key rotation), tombstone a DID (410 Gone, as the directory answers for a deactivated did:plc), and can make it
// fail as a directory that is down does (503) or redirect as a proxy in front of it may (3xx). A DID it holds nothing
// for is 404.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Keypair } from '@atproto/crypto';

export interface FakePlc {
  url: string;
  set(did: string, doc: unknown): void;
  /** Answer 410 Gone for the DID from now on, as the directory does once its last operation is a tombstone. */
  tombstone(did: string): void;
  /** Answer 503 to everything while true: an outage, which the resolver reports as a DependencyError. */
  down: boolean;
  /** Answer this 3xx status to every DID while set, its location `/moved/<did>` (asked there: counted as `moved/<did>`). */
  redirect: number | undefined;
  /** DIDs answered with this HTTP status instead of their document (the directory failing for one DID alone). */
  failing: Map<string, number>;
  /** How many times each DID was asked for. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

export async function startFakePlc(): Promise<FakePlc> {
  const docs = new Map<string, unknown>();
  const tombstoned = new Set<string>();
  const requests = new Map<string, number>();
  const plc: FakePlc = {
    url: '',
    set: (did, doc) => {
      tombstoned.delete(did);
      docs.set(did, doc);
    },
    tombstone: (did) => void tombstoned.add(did),
    down: false,
    redirect: undefined,
    failing: new Map(),
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const did = decodeURIComponent((req.url ?? '/').slice(1));
    requests.set(did, (requests.get(did) ?? 0) + 1);
    if (plc.down) {
      res.writeHead(503).end('down');
      return;
    }
    if (plc.redirect !== undefined) {
      res.writeHead(plc.redirect, { location: `/moved/${encodeURIComponent(did)}` }).end();
      return;
    }
    const failure = plc.failing.get(did);
    if (failure !== undefined) {
      res.writeHead(failure).end('internal error');
      return;
    }
    if (tombstoned.has(did)) {
      res.writeHead(410, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `DID not available: ${did}` }));
      return;
    }
    const doc = docs.get(did);
    if (doc === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `DID not registered: ${did}` }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  plc.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return plc;
}

/** The multibase of a did:key (`did:key:z...` -> `z...`), as DID documents publish it. */
function multibase(key: Keypair): string {
  return key.did().slice('did:key:'.length);
}

export interface LabelerDocOptions {
  did: string;
  /** The #atproto key (repo signing). */
  atproto: Keypair;
  /** The #atproto_label key; absent: a DID that signs no labels. */
  label?: Keypair;
  /** The #atproto_labeler endpoint, e.g. http://127.0.0.1:1234; absent: a DID that runs no labeler. */
  labeler?: string;
}

export function labelerDoc(o: LabelerDocOptions): Record<string, unknown> {
  const methods = [{ id: `${o.did}#atproto`, type: 'Multikey', controller: o.did, publicKeyMultibase: multibase(o.atproto) }];
  if (o.label !== undefined) methods.push({ id: `${o.did}#atproto_label`, type: 'Multikey', controller: o.did, publicKeyMultibase: multibase(o.label) });
  const services = [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.invalid' }];
  if (o.labeler !== undefined) services.push({ id: '#atproto_labeler', type: 'AtprotoLabeler', serviceEndpoint: o.labeler });
  return { '@context': ['https://www.w3.org/ns/did/v1'], id: o.did, alsoKnownAs: [], verificationMethod: methods, service: services };
}
