// A real network WITH the real AppView for e2e tests: @atproto/dev-env's TestNetwork runs PLC, a PDS, the Bluesky
// AppView (@atproto/bsky, indexing the PDS's firehose into its own Postgres schema) and Ozone on loopback. The AppView's
// database and API are the oracle skytide's index is compared with (issue 11).
import { TestNetwork } from '@atproto/dev-env';
import * as bsky from '@atproto/bsky';
import { freePort } from './free-port.ts';
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
  /** The AppView's DID (the audience of the service tokens its authenticated routes take). */
  appviewDid: string;
  /**
   * A second AppView, the same code and configuration, serving from another database (`schema` of `databaseUrl`):
   * its data plane and API only, nothing indexing into it.
   */
  serveFrom(databaseUrl: string, schema: string): Promise<{ url: string; close(): Promise<void> }>;
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
    appviewDid: network.bsky.serverDid,
    async serveFrom(databaseUrl, dbSchema) {
      const db = new bsky.Database({ url: databaseUrl, schema: dbSchema, poolSize: 4 });
      const dataplanePort = await freePort();
      const dataplane = await bsky.DataPlaneServer.create(db, dataplanePort, network.plc.url, globalThis.fetch);
      const port = await freePort();
      const base = network.bsky.ctx.cfg as unknown as { cfg: Record<string, unknown> };
      const config = new bsky.ServerConfig({ ...base.cfg, port, dataplaneUrls: [`http://localhost:${dataplanePort}`] } as never);
      const server = bsky.BskyAppView.create({ config, signingKey: network.bsky.ctx.signingKey });
      await withLoopbackListen(() => server.start());
      return {
        url: `http://localhost:${port}`,
        async close() {
          await server.destroy();
          await dataplane.destroy();
          await db.close();
        },
      };
    },
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

