// A real AT Protocol network on loopback for e2e tests: the official PLC directory and PDS from @atproto/dev-env,
// bound to 127.0.0.1, with helpers to make accounts. Nothing here is a mock: the firehose, getRepo and listRecords
// are the PDS's own.
import net from 'node:net';
import { TestNetworkNoAppView } from '@atproto/dev-env';
import { AtpAgent } from '@atproto/api';
import { withListenArgs, withLoopbackListen } from '../../long-runners/dev/loopback.ts';

export interface DevUser {
  name: string;
  did: string;
  handle: string;
  agent: AtpAgent;
}

export interface DevNetwork {
  /** The PDS's URL as it names itself (in DID documents and handles' resolution). */
  pdsUrl: string;
  /** Where the PDS really listens: pdsUrl, unless a proxy stands in front of it (see DevNetworkOptions). */
  pdsDirectUrl: string;
  plcUrl: string;
  /** For INGESTER_RELAY_HOSTS: http:// means ws://. */
  firehoseHost: string;
  /** Accounts' agents talk to pdsDirectUrl, so an outage of a proxy in front of the PDS does not stop their writes. */
  createUser(name: string): Promise<DevUser>;
  /** The PDS's latest sequenced event. */
  latestSeq(): Promise<number>;
  /** Basic auth for the PDS's admin routes. */
  adminAuth: string;
  close(): Promise<void>;
}

export interface DevNetworkOptions {
  /**
   * The port the PDS names in its URL, so its DID documents point there: a test puts a proxy on it. With
   * `pdsListenPort`, the PDS itself listens on that other port, and the proxy forwards from one to the other.
   */
  pdsPublicPort?: number;
  pdsListenPort?: number;
}

/** While `fn` runs, a listen() on port `from` binds `to` instead (the PDS derives its URL from its port). */
async function withListenRemap<T>(from: number | undefined, to: number | undefined, fn: () => Promise<T>): Promise<T> {
  if (from === undefined || to === undefined) return fn();
  return withListenArgs((args) => {
    const first = args[0];
    if (first === from) return [to, ...args.slice(1)];
    if (typeof first === 'object' && first !== null && (first as net.ListenOptions).port === from) return [{ ...(first as net.ListenOptions), port: to }, ...args.slice(1)];
    return args;
  }, fn);
}

/** A fetch that sends what is addressed to `from` (an origin) to `to` instead. */
function directFetch(from: string, to: string): typeof globalThis.fetch {
  const rewrite = (url: string) => (url.startsWith(from) ? to + url.slice(from.length) : url);
  return async (input, init) => {
    if (!(input instanceof Request)) return globalThis.fetch(rewrite(String(input)), init);
    // The agent hands over Requests; their bodies are small (records, a tiny blob), so they are read whole.
    const body = input.body === null ? undefined : await input.arrayBuffer();
    return globalThis.fetch(rewrite(input.url), { method: input.method, headers: input.headers, body, signal: input.signal, ...init });
  };
}

export async function startDevNetwork(options: DevNetworkOptions = {}): Promise<DevNetwork> {
  const network = await withListenRemap(options.pdsPublicPort, options.pdsListenPort, () =>
    withLoopbackListen(() => TestNetworkNoAppView.create(options.pdsPublicPort === undefined ? {} : { pds: { port: options.pdsPublicPort } })),
  );
  const pdsUrl = network.pds.url;
  const pdsDirectUrl = options.pdsListenPort === undefined ? pdsUrl : `http://localhost:${options.pdsListenPort}`;
  return {
    pdsUrl,
    pdsDirectUrl,
    plcUrl: network.plc.url,
    firehoseHost: pdsUrl,
    async createUser(name) {
      // A session follows the PDS endpoint of its DID document (the proxy, when there is one): keep it on the PDS.
      const agent = new AtpAgent({ service: pdsDirectUrl, fetch: pdsDirectUrl === pdsUrl ? globalThis.fetch : directFetch(pdsUrl, pdsDirectUrl) });
      const handle = `${name}.test`;
      await agent.createAccount({ handle, email: `${name}@example.com`, password: `${name}-password` });
      return { name, did: agent.assertDid, handle, agent };
    },
    latestSeq: async () => (await network.pds.ctx.sequencer.curr()) ?? 0,
    adminAuth: network.pds.adminAuth(),
    close: () => network.close(),
  };
}
