// A real HTTP server on 127.0.0.1 that answers com.atproto.sync.getRepo the way a PDS does: the repo's CAR, from
// memory or streamed from a file, the error it was told to answer (`RepoDeactivated`, ...), and `RepoNotFound`
// otherwise. Counts what it was asked for, so a test can say a repo was never fetched, and holds a request open while a
// test runs something (`hold`): the answer is decided when the request arrives and sent once that has finished, as a
// slow PDS's would be. `repoDoc` is the DID document that points the backfill at it.
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePds {
  url: string;
  /** A repo's CAR bytes, the path of a file holding them, or the XRPC error getRepo answers for it (HTTP 400). */
  set(did: string, car: Uint8Array | { file: string } | { error: string }): void;
  /** getRepo requests per DID. */
  requests: Map<string, number>;
  /**
   * The next getRepo for `did` is answered (as `set` left it when the request arrived) only once `during` has
   * settled: the test's live events land after the backfill sent getRepo and before it reads the answer. The promise
   * settles as `during` did (its failures are the test's to see), once the request came.
   */
  hold(did: string, during: () => Promise<unknown>): Promise<void>;
  close(): Promise<void>;
}

export async function startFakePds(): Promise<FakePds> {
  const repos = new Map<string, Uint8Array | { file: string } | { error: string }>();
  const requests = new Map<string, number>();
  const holds = new Map<string, () => Promise<void>>();
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/xrpc/com.atproto.sync.getRepo') return void res.writeHead(404).end();
    const did = url.searchParams.get('did') ?? '';
    requests.set(did, (requests.get(did) ?? 0) + 1);
    const repo = repos.get(did);
    const during = holds.get(did);
    if (during !== undefined) {
      holds.delete(did);
      await during();
    }
    if (repo === undefined || 'error' in repo) {
      const error = repo?.error ?? 'RepoNotFound';
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error, message: `${error} for DID: ${did}` }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' });
    if (repo instanceof Uint8Array) res.end(repo);
    else createReadStream(repo.file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (did, car) => void repos.set(did, car),
    requests,
    hold: (did, during) => new Promise<void>((resolve, reject) => {
      // A failure in `during` is the test's to see (the promise): the request is answered all the same.
      holds.set(did, () => during().then(() => resolve(), reject));
    }),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A DID document naming `didKey` (`did:key:z...`) as the repo signing key and `pds` as its PDS. */
export function repoDoc(did: string, didKey: string, pds: string): Record<string, unknown> {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'], id: did, alsoKnownAs: [],
    verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: didKey.slice('did:key:'.length) }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
  };
}
