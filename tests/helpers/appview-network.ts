// A real network WITH the real AppView for e2e tests: @atproto/dev-env's TestNetwork runs PLC, a PDS, the Bluesky
// AppView (@atproto/bsky, indexing the PDS's firehose into its own Postgres schema) and Ozone on loopback. The AppView's
// database and API are the oracle skytide's index is compared with (issue 11).
import { TestNetwork } from '@atproto/dev-env';
import { AtpAgent } from '@atproto/api';
import postgres from 'postgres';
import { withLoopbackListen } from '../../long-runners/dev/loopback.ts';
import { TEST_REDIS_URL } from './services.ts';
import { createScratchDatabase } from './scratch-database.ts';
import type { DevUser } from './dev-network.ts';

export interface AppViewNetwork {
  pdsUrl: string;
  plcUrl: string;
  firehoseHost: string;
  /** The AppView's XRPC endpoint. */
  appviewUrl: string;
  createUser(name: string): Promise<DevUser>;
  latestSeq(): Promise<number>;
  /** Waits until the AppView indexed everything the PDS sequenced (and its background queue drained). */
  processAll(): Promise<void>;
  /** Runs a query against the AppView's own database (its schema on the search path). */
  appviewQuery<R extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export async function startAppViewNetwork(): Promise<AppViewNetwork> {
  // dev-env only checks that it is set; nothing here connects to it.
  process.env['REDIS_HOST'] ??= new URL(TEST_REDIS_URL).host;
  // Its own database (scratch-database.ts); its services reject schema names with anything but letters and underscores.
  const database = await createScratchDatabase('parity');
  const schema = 'parity';
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  let network: TestNetwork;
  try {
    network = await withLoopbackListen(() => TestNetwork.create({ dbPostgresUrl: database.url, dbPostgresSchema: schema }));
  } catch (err) {
    await admin.end();
    await database.drop();
    throw err;
  }
  const appviewSchema = `appview_${schema}`;
  return {
    pdsUrl: network.pds.url,
    plcUrl: network.plc.url,
    firehoseHost: network.pds.url,
    appviewUrl: network.bsky.url,
    async createUser(name) {
      const agent = new AtpAgent({ service: network.pds.url });
      const handle = `${name}.test`;
      await agent.createAccount({ handle, email: `${name}@example.com`, password: `${name}-password` });
      return { name, did: agent.assertDid, handle, agent };
    },
    latestSeq: async () => (await network.pds.ctx.sequencer.curr()) ?? 0,
    processAll: () => network.processAll(),
    appviewQuery: async <R extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
      (await admin.begin(async (tx) => {
        await tx.unsafe(`set local search_path to "${appviewSchema}"`);
        return tx.unsafe(text, params as never[]);
      })) as unknown as R[],
    async close() {
      await network.close();
      await admin.end();
      await database.drop();
    },
  };
}
