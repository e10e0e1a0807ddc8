// `skytide dev` with no relay configured: a simulated network on 127.0.0.1. A real PLC directory and PDS from
// @atproto/dev-env, a relay in front of the PDS (./dev-relay.ts: subscribeRepos, listRepos and the rest proxied, with
// faults on demand), N accounts, and a seeded bot writing at a configurable rate: posts with replies, quotes and link
// embeds, likes, reposts, follows, blocks, lists and list items, profile edits, deletes, handle changes and account
// deactivations (each reactivated a few actions later); skytide's own labeler (./dev-labeler.ts) labels posts and
// takes labels back (negations), signed with the key its DID document publishes. dev-env is a devDependency: this module is imported only by
// the dev command, never on the production path.
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import { withLoopbackListen } from './loopback.ts';
import { startDevRelay, RELAY_FAULTS, type RelayFault } from './dev-relay.ts';
import { startDevLabeler } from './dev-labeler.ts';
import { prng } from './prng.ts';
import type { DevControls } from '../../adapters/http/routes/status-page.ts';
import type { Beat, Task } from '../supervisor.ts';
import { runPaced } from './paced-activity.ts';

export interface LocalNetworkOptions {
  seed?: number;
  accounts?: number;
  /** Actions per second (0 pauses). */
  rate?: number;
}

/** What the network holds now, from the PDS: per account, its handle, whether it is active, and its records. */
export interface NetworkTruth {
  accounts: { did: string; handle: string; active: boolean; records: { uri: string; cid: string }[] }[];
  /** The labels of the network's labeler in force now (its last word per subject and value was not a negation). */
  labels: { src: string; uri: string; val: string }[];
}

export interface LocalNetwork {
  pdsUrl: string;
  plcUrl: string;
  /** The firehose host for INGESTER_RELAY_HOSTS: the relay (http:// means ws://). */
  relayHost: string;
  /** skytide's own labeler, for INGESTER_LABELER_HOSTS. */
  labelerHost: string;
  /**
   * Writes actions at the current rate until `signal` aborts; then reactivates every account it deactivated. Beats
   * after each action (done or failed) and while it waits between them, so an action that never settles is found.
   */
  runActivity(signal: AbortSignal, beat?: Beat): Promise<void>;
  controls: DevControls;
  /** Counts for the status page's `sim` chart. */
  stats(): Record<string, number>;
  truth(): Promise<NetworkTruth>;
  close(): Promise<void>;
}

const NAMES = ['alice', 'bob', 'carol', 'dan', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj'];

export async function startLocalNetwork(log: Log, options: LocalNetworkOptions = {}): Promise<LocalNetwork> {
  const { TestNetworkNoAppView } = await import('@atproto/dev-env');
  const { AtpAgent } = await import('@atproto/api');
  const network = await withLoopbackListen(() => TestNetworkNoAppView.create({}));
  const pdsUrl = network.pds.url;
  const relay = await startDevRelay(pdsUrl);
  const labeler = await startDevLabeler(network.plc.url, pdsUrl);
  const VALUES = ['spam', 'rude', '!warn', 'porn'];
  /** Labels in force: `${uri} ${val}` -> cid. */
  const inForce = new Map<string, { uri: string; cid: string; val: string }>();
  const random = prng(options.seed ?? 1);
  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
  let rate = options.rate ?? 2;
  let actions = 0;
  let failures = 0;

  type User = { did: string; name: string; handle: string; agent: InstanceType<typeof AtpAgent>; renames: number; deactivatedFor: number };
  const users: User[] = [];
  const count = Math.max(2, options.accounts ?? 6);
  for (let i = 0; i < count; i++) {
    const name = `${NAMES[i % NAMES.length]}${i >= NAMES.length ? i : ''}`;
    const agent = new AtpAgent({ service: pdsUrl });
    await agent.createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: 'dev-password' });
    await agent.upsertProfile(() => ({ displayName: name[0]?.toUpperCase() + name.slice(1), description: `${name} on the skytide dev network` }));
    users.push({ did: agent.assertDid, name, handle: `${name}.test`, agent, renames: 0, deactivatedFor: 0 });
  }
  type Ref = { uri: string; cid: string; by: number };
  const posts: Ref[] = [];
  const undoable: Ref[] = [];
  const lists: Ref[] = [];
  const now = () => new Date().toISOString();
  const repoOf = (uri: string) => uri.split('/')[2] ?? '';

  const act = async () => {
    // Deactivated accounts come back after a few actions; they do not write meanwhile.
    for (const u of users) {
      if (u.deactivatedFor > 0 && --u.deactivatedFor === 0) {
        // A failed activation is tried again on the next action: an account left deactivated by mistake would make
        // the network's truth unreadable (describeRepo refuses it).
        await u.agent.com.atproto.server.activateAccount().catch((err: unknown) => {
          u.deactivatedFor = 1;
          throw err;
        });
      }
    }
    const active = users.filter((u) => u.deactivatedFor === 0);
    const i = Math.floor(random() * active.length);
    const user = active[i];
    if (user === undefined) return;
    const me = users.indexOf(user);
    const roll = random();
    const target = pick(posts.filter((p) => users[p.by]?.deactivatedFor === 0));
    const other = pick(users.filter((u) => u !== user));
    const repo = user.did;
    if (roll < 0.25 || target === undefined) {
      const embed = random() < 0.2 ? { $type: 'app.bsky.embed.external', external: { uri: `https://example.com/${actions}`, title: `link ${actions}`, description: 'an external embed' } } : undefined;
      const res = await user.agent.post({ text: `dev post ${actions}`, createdAt: now(), ...(embed === undefined ? {} : { embed }) });
      posts.push({ uri: res.uri, cid: res.cid, by: me });
    } else if (roll < 0.37) {
      const res = await user.agent.post({ text: `reply ${actions}`, reply: { root: { uri: target.uri, cid: target.cid }, parent: { uri: target.uri, cid: target.cid } }, createdAt: now() });
      posts.push({ uri: res.uri, cid: res.cid, by: me });
    } else if (roll < 0.43) {
      const res = await user.agent.post({ text: `quote ${actions}`, embed: { $type: 'app.bsky.embed.record', record: { uri: target.uri, cid: target.cid } }, createdAt: now() });
      posts.push({ uri: res.uri, cid: res.cid, by: me });
    } else if (roll < 0.58) {
      const res = await user.agent.like(target.uri, target.cid);
      undoable.push({ ...res, by: me });
    } else if (roll < 0.65) {
      const res = await user.agent.repost(target.uri, target.cid);
      undoable.push({ ...res, by: me });
    } else if (roll < 0.72 && other !== undefined) {
      const res = await user.agent.follow(other.did);
      undoable.push({ ...res, by: me });
    } else if (roll < 0.75 && other !== undefined) {
      const res = await user.agent.app.bsky.graph.block.create({ repo }, { subject: other.did, createdAt: now() });
      undoable.push({ ...res, by: me });
    } else if (roll < 0.78) {
      const res = await user.agent.app.bsky.graph.list.create({ repo }, { purpose: 'app.bsky.graph.defs#curatelist', name: `list ${actions}`, createdAt: now() });
      lists.push({ ...res, by: me });
    } else if (roll < 0.82 && other !== undefined) {
      const list = pick(lists.filter((l) => l.by === me));
      if (list !== undefined) await user.agent.app.bsky.graph.listitem.create({ repo }, { subject: other.did, list: list.uri, createdAt: now() });
    } else if (roll < 0.87) {
      await user.agent.upsertProfile((p) => ({ ...p, description: `edited at ${now()}` }));
    } else if (roll < 0.9) {
      // Undo something of ours: a like, repost, follow or block, or one of our posts.
      const mine = undoable.filter((r) => r.by === me);
      const undo = random() < 0.5 ? pick(mine) : pick(posts.filter((p) => p.by === me));
      if (undo !== undefined) {
        const [, , , collection, rkey] = undo.uri.split('/');
        await user.agent.com.atproto.repo.deleteRecord({ repo: repoOf(undo.uri), collection: collection ?? '', rkey: rkey ?? '' });
        const from = undoable.includes(undo) ? undoable : posts;
        from.splice(from.indexOf(undo), 1);
      }
    } else if (roll < 0.95) {
      // The labeler labels a post, or takes one of its labels back.
      const taken = pick([...inForce.values()]);
      if (random() < 0.3 && taken !== undefined) {
        await labeler.emit([{ uri: taken.uri, cid: taken.cid, val: taken.val, neg: true }]);
        inForce.delete(`${taken.uri} ${taken.val}`);
      } else {
        const val = pick(VALUES) ?? 'spam';
        await labeler.emit([{ uri: target.uri, cid: target.cid, val }]);
        inForce.set(`${target.uri} ${val}`, { uri: target.uri, cid: target.cid, val });
      }
    } else if (roll < 0.97) {
      user.renames++;
      user.handle = `${user.name}-${user.renames}.test`;
      await user.agent.com.atproto.identity.updateHandle({ handle: user.handle });
    } else if (active.length > 2) {
      // Counted as deactivated before the call: a call that fails after the PDS acted still gets its activation.
      user.deactivatedFor = 5 + Math.floor(random() * 10);
      await user.agent.com.atproto.server.deactivateAccount({});
    }
  };

  const reactivateAll = async () => {
    for (const u of users) {
      if (u.deactivatedFor > 0) {
        // Marked active only once the PDS agrees; a failure is logged and tried again on the next pass.
        await u.agent.com.atproto.server.activateAccount().then(
          () => { u.deactivatedFor = 0; },
          (err: unknown) => log.warn('dev reactivation failed', { did: u.did, err: describeError(err) }),
        );
      }
    }
  };

  return {
    pdsUrl,
    plcUrl: network.plc.url,
    relayHost: relay.url,
    labelerHost: labeler.host,
    runActivity: (signal, beat) => runPaced({
      rate: () => rate,
      act,
      rest: reactivateAll,
      settled: (err) => {
        if (err === undefined) {
          actions++;
          return;
        }
        failures++;
        log.warn('dev activity failed', { task: DEV_ACTIVITY_TASK, err: describeError(err) });
      },
    }, signal, beat),
    controls: {
      state: () => ({ rate, faults: [...RELAY_FAULTS] }),
      setRate: (perSecond) => {
        rate = perSecond;
        log.info('dev rate set', { rate });
      },
      injectFault: async (kind) => {
        const result = relay.inject(kind as RelayFault);
        log.info('dev fault injected', { kind, ...result });
        return result;
      },
    },
    stats: () => {
      const injected = relay.injected();
      return {
        rate, actions, failures, accounts: users.length, active: users.filter((u) => u.deactivatedFor === 0).length,
        faults_injected: Object.values(injected).reduce((a, b) => a + b, 0),
        labels_emitted: labeler.count(),
      };
    },
    truth: async () => {
      const out: NetworkTruth = { accounts: [], labels: [...inForce.values()].map((l) => ({ src: labeler.did, uri: l.uri, val: l.val })) };
      for (const u of users) {
        const records: { uri: string; cid: string }[] = [];
        if (u.deactivatedFor > 0) throw new Error(`${u.did} is still deactivated (its reactivation has not succeeded yet)`);
        const described = await u.agent.com.atproto.repo.describeRepo({ repo: u.did });
        for (const collection of described.data.collections) {
          let cursor: string | undefined;
          do {
            const page = await u.agent.com.atproto.repo.listRecords({ repo: u.did, collection, limit: 100, ...(cursor === undefined ? {} : { cursor }) });
            for (const r of page.data.records) records.push({ uri: r.uri, cid: r.cid });
            cursor = page.data.records.length === 100 ? page.data.cursor : undefined;
          } while (cursor !== undefined);
        }
        out.accounts.push({ did: u.did, handle: described.data.handle, active: u.deactivatedFor === 0, records });
      }
      return out;
    },
    close: async () => {
      await relay.close();
      await labeler.close();
      await network.close();
    },
  };
}

export const DEV_ACTIVITY_TASK = 'dev:activity';

/**
 * The bot as `skytide dev` supervises it: watched like every loop, so an action that never settles (a PDS that stops
 * answering) is named by the watchdog (`task stuck`, dev:activity) instead of freezing the simulation silently; an
 * action that fails is logged with the task's name and the bot goes on; the bot throwing ends the process as any task.
 */
export function devActivityTask(network: Pick<LocalNetwork, 'runActivity'>): Task {
  return { name: DEV_ACTIVITY_TASK, run: (signal, beat) => network.runActivity(signal, beat) };
}
