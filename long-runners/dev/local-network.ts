// `skytide dev` with no relay configured: a real PLC directory and PDS from @atproto/dev-env on loopback, a few
// accounts, and a seeded bot that keeps writing (posts, replies, likes, reposts, follows, edits, deletes), so the
// whole pipeline has a live firehose to ingest. dev-env is a devDependency: this module is imported only by the dev
// command, never on the production path.
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import { withLoopbackListen } from './loopback.ts';

export interface LocalNetwork {
  pdsUrl: string;
  plcUrl: string;
  /** The firehose host for INGESTER_RELAY_HOSTS: http:// means ws://. */
  relayHost: string;
  /** Writes one random action every `intervalMs` until `signal` aborts. */
  runActivity(signal: AbortSignal, intervalMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A small deterministic PRNG (mulberry32), so a dev session's activity can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['alice', 'bob', 'carol', 'dan'];

export async function startLocalNetwork(log: Log, seed = 1): Promise<LocalNetwork> {
  const { TestNetworkNoAppView } = await import('@atproto/dev-env');
  const { AtpAgent } = await import('@atproto/api');
  const network = await withLoopbackListen(() => TestNetworkNoAppView.create({}));
  const pdsUrl = network.pds.url;
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];

  const users: { did: string; agent: InstanceType<typeof AtpAgent> }[] = [];
  for (const name of NAMES) {
    const agent = new AtpAgent({ service: pdsUrl });
    await agent.createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: 'dev-password' });
    await agent.upsertProfile(() => ({ displayName: name[0]?.toUpperCase() + name.slice(1), description: `${name} on the skytide dev network` }));
    users.push({ did: agent.assertDid, agent });
  }
  const posts: { uri: string; cid: string; by: number }[] = [];

  const act = async () => {
    const i = Math.floor(random() * users.length);
    const user = users[i];
    if (user === undefined) return;
    const roll = random();
    const target = pick(posts);
    if (roll < 0.35 || target === undefined) {
      const res = await user.agent.post({ text: `dev post ${posts.length + 1}`, createdAt: new Date().toISOString() });
      posts.push({ uri: res.uri, cid: res.cid, by: i });
    } else if (roll < 0.5) {
      const res = await user.agent.post({
        text: `reply to ${target.uri.split('/').pop()}`,
        reply: { root: { uri: target.uri, cid: target.cid }, parent: { uri: target.uri, cid: target.cid } },
        createdAt: new Date().toISOString(),
      });
      posts.push({ uri: res.uri, cid: res.cid, by: i });
    } else if (roll < 0.7) {
      await user.agent.like(target.uri, target.cid);
    } else if (roll < 0.8) {
      await user.agent.repost(target.uri, target.cid);
    } else if (roll < 0.88) {
      const other = pick(users.filter((u) => u !== user));
      if (other !== undefined) await user.agent.follow(other.did);
    } else if (roll < 0.94) {
      await user.agent.upsertProfile((p) => ({ ...p, description: `edited at ${new Date().toISOString()}` }));
    } else if (target.by === i) {
      await user.agent.deletePost(target.uri);
      posts.splice(posts.indexOf(target), 1);
    }
  };

  return {
    pdsUrl,
    plcUrl: network.plc.url,
    relayHost: pdsUrl,
    runActivity: async (signal, intervalMs = 1000) => {
      while (!signal.aborted) {
        try {
          await act();
        } catch (err) {
          log.warn('dev activity failed', { err: describeError(err) });
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, intervalMs);
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    },
    close: () => network.close(),
  };
}
