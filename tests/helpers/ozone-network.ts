// A real labeler for e2e tests: @atproto/dev-env's TestNetwork runs PLC, a PDS, the AppView and Ozone on loopback
// (it needs Postgres, and asserts REDIS_HOST is set though nothing it starts connects to Redis). Ozone signs every
// label with the key its DID document publishes as #atproto_label, and serves subscribeLabels and queryLabels. Labels
// are made through Ozone's own moderation API, tools.ozone.moderation.emitEvent, as its moderator account.
import { TestNetwork } from '@atproto/dev-env';
import { AtpAgent } from '@atproto/api';
import { withLoopbackListen } from '../../long-runners/dev/loopback.ts';
import { TEST_REDIS_URL } from './services.ts';
import { createScratchDatabase } from './scratch-database.ts';

export interface OzoneUser {
  did: string;
  agent: AtpAgent;
}

export type LabelSubject = { $type: 'com.atproto.repo.strongRef'; uri: string; cid: string } | { $type: 'com.atproto.admin.defs#repoRef'; did: string };

export interface OzoneNetwork {
  plcUrl: string;
  /** http://localhost:<port>: the #atproto_labeler endpoint in Ozone's DID document. */
  ozoneUrl: string;
  ozoneDid: string;
  createUser(name: string): Promise<OzoneUser>;
  /** tools.ozone.moderation.emitEvent with a #modEventLabel, as the moderator. */
  label(subject: LabelSubject, change: { create?: string[]; negate?: string[]; durationInHours?: number }): Promise<void>;
  /** Every row of Ozone's own queryLabels (negations included), paged to the end. */
  ozoneRows(): Promise<Record<string, unknown>[]>;
  /** Ozone's latest label seq. */
  latestSeq(): Promise<number>;
  close(): Promise<void>;
}

export async function startOzoneNetwork(): Promise<OzoneNetwork> {
  // dev-env only checks that it is set; nothing here connects to it.
  process.env['REDIS_HOST'] ??= new URL(TEST_REDIS_URL).host;
  // Its own database (scratch-database.ts); its services reject schema names with anything but letters and underscores.
  const database = await createScratchDatabase('labeler');
  let network: TestNetwork;
  try {
    network = await withLoopbackListen(() => TestNetwork.create({ dbPostgresUrl: database.url, dbPostgresSchema: 'labeler' }));
  } catch (err) {
    await database.drop();
    throw err;
  }
  const mod = network.ozone.getModClient();
  const ozoneUrl = network.ozone.url;
  return {
    plcUrl: network.plc.url,
    ozoneUrl,
    ozoneDid: network.ozone.ctx.cfg.service.did,
    async createUser(name) {
      const agent = new AtpAgent({ service: network.pds.url });
      await agent.createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: `${name}-password` });
      return { did: agent.assertDid, agent };
    },
    async label(subject, change) {
      await mod.emitEvent({
        event: {
          $type: 'tools.ozone.moderation.defs#modEventLabel',
          createLabelVals: change.create ?? [],
          negateLabelVals: change.negate ?? [],
          ...(change.durationInHours === undefined ? {} : { durationInHours: change.durationInHours }),
        },
        subject,
        createdBy: network.ozone.moderatorAccnt.did,
      } as never);
    },
    async ozoneRows() {
      const rows: Record<string, unknown>[] = [];
      let cursor: string | undefined;
      for (;;) {
        const qs = new URLSearchParams({ uriPatterns: '*', limit: '250', ...(cursor === undefined ? {} : { cursor }) });
        const page = (await (await fetch(`${ozoneUrl}/xrpc/com.atproto.label.queryLabels?${qs}`)).json()) as { labels: Record<string, unknown>[]; cursor?: string };
        rows.push(...page.labels);
        if (page.labels.length < 250 || page.cursor === undefined) return rows;
        cursor = page.cursor;
      }
    },
    latestSeq: async () => (await network.ozone.ctx.sequencer.curr()) ?? 0,
    async close() {
      try {
        await network.close();
      } finally {
        await database.drop();
      }
    },
  };
}
