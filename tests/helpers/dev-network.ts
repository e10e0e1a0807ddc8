// A real AT Protocol network on loopback for e2e tests: the official PLC directory and PDS from @atproto/dev-env,
// bound to 127.0.0.1, with helpers to make accounts. Nothing here is a mock: the firehose, getRepo and listRecords
// are the PDS's own.
import { TestNetworkNoAppView } from '@atproto/dev-env';
import { AtpAgent } from '@atproto/api';
import { withLoopbackListen } from '../../long-runners/dev/loopback.ts';

export interface DevUser {
  name: string;
  did: string;
  handle: string;
  agent: AtpAgent;
}

export interface DevNetwork {
  pdsUrl: string;
  plcUrl: string;
  /** For INGESTER_RELAY_HOSTS: http:// means ws://. */
  firehoseHost: string;
  createUser(name: string): Promise<DevUser>;
  /** The PDS's latest sequenced event. */
  latestSeq(): Promise<number>;
  close(): Promise<void>;
}

export async function startDevNetwork(): Promise<DevNetwork> {
  const network = await withLoopbackListen(() => TestNetworkNoAppView.create({}));
  const pdsUrl = network.pds.url;
  return {
    pdsUrl,
    plcUrl: network.plc.url,
    firehoseHost: pdsUrl,
    async createUser(name) {
      const agent = new AtpAgent({ service: pdsUrl });
      const handle = `${name}.test`;
      await agent.createAccount({ handle, email: `${name}@example.com`, password: `${name}-password` });
      return { name, did: agent.assertDid, handle, agent };
    },
    latestSeq: async () => (await network.pds.ctx.sequencer.curr()) ?? 0,
    close: () => network.close(),
  };
}
