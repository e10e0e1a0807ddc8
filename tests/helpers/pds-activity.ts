// Seeded activity on a real PDS for the chaos suite. `planActivity` turns a seed into a fixed script of actions
// (posts, replies, quotes, image and link embeds, likes, reposts, follows, blocks, profile edits, multi-op commits,
// records no plugin knows, their deletes, and account events: deactivations, reactivations, handle changes and one
// account deletion), each one commit or one account/identity event on the PDS. `runActivity` plays it over a few
// lanes (an account's actions always on the same lane, in script order; an action that refers to another's record
// waits for it), so the same seed writes the same structure whatever the timing. Agents talk to the PDS directly,
// so writes go on while a proxy in front of it is down.
import { AtpAgent } from '@atproto/api';
import type { Random } from './seeded-random.ts';

export interface Account {
  index: number;
  did: string;
  handle: string;
  agent: AtpAgent;
}

type Ref = { uri: string; cid: string };

export type Action = { id: number; actor: number; deps: number[] } & (
  | { kind: 'post'; text: string; langs?: string[]; reply?: { root: number; parent: number }; embed?: 'external' | 'image' | { quote: number } | { quoteWithMedia: number } }
  | { kind: 'like' | 'repost'; target: number }
  | { kind: 'follow' | 'block'; subject: number }
  | { kind: 'undo'; target: number }
  | { kind: 'profile'; displayName: string; description: string }
  | { kind: 'multi'; target: number }
  | { kind: 'other'; collection: 'com.example.chaos.note' | 'app.bsky.graph.list' }
  | { kind: 'deactivate' | 'activate' | 'delete-account' }
  | { kind: 'handle'; handle: string }
);

/** An action before it has its id (Omit over each member of the union, not over the union). */
type Draft = Action extends infer A ? (A extends Action ? Omit<A, 'id'> : never) : never;

export interface ActivityPlan {
  actions: Action[];
  /** Account indexes the plan deactivates (each reactivated later but the last), changes the handle of, and deletes. */
  deactivated: number[];
  /** The one account still deactivated at the end, so its index must hold what it wrote up to its deactivation. */
  leftDeactivated: number;
  renamed: number[];
  deleted: number;
  /** Accounts the plan never deactivates or deletes: safe for the harness's own identity changes during outages. */
  reserved: number[];
  /**
   * The last reserved account, which the script stops writing with halfway (PAUSABLE_FROM): once its actions have
   * finished (ActivityRun.actorSettled), the harness may deactivate and reactivate it without failing a scripted write.
   */
  pausable: number;
}

export interface PlanOptions {
  accounts: number;
  /** Actions in the script, each about one event on the PDS. */
  actions: number;
  /** Handle of account i: `${handlePrefix}${i}.test`; renames add a suffix. */
  handlePrefix: string;
}

const RESERVED = 4;
/** Where in the script the pausable account writes its last action. */
const PAUSABLE_FROM = 0.5;

export function planActivity(random: Random, o: PlanOptions): ActivityPlan {
  const actions: Action[] = [];
  const status = new Map<number, 'active' | 'deactivated' | 'deleted'>();
  for (let i = 0; i < o.accounts; i++) status.set(i, 'active');
  // Live posts (id -> author, root id), and what each account could undo.
  const posts = new Map<number, { actor: number; root: number }>();
  const ownPosts = new Map<number, number[]>();
  const undoable = new Map<number, number[]>();
  const edges = new Set<string>();
  const push = (a: Draft): number => {
    const id = actions.length;
    actions.push({ ...a, id } as Action);
    return id;
  };
  const listOf = (m: Map<number, number[]>, k: number) => {
    let l = m.get(k);
    if (l === undefined) m.set(k, (l = []));
    return l;
  };

  // Account events at fixed points of the script, on accounts other than the reserved ones.
  const candidates = random.fork('accounts');
  const pool = Array.from({ length: o.accounts - RESERVED }, (_, i) => i + RESERVED);
  const take = () => pool.splice(candidates.int(0, pool.length - 1), 1)[0]!;
  const deleted = take();
  const deactivated = [take(), take(), take(), take(), take()];
  const renamed = [take(), take(), take(), take(), take(), take()];
  const at = (f: number) => Math.max(1, Math.floor(o.actions * f));
  // Account events wait for their position in the script; one that pushes several actions may pass the next
  // position, so every event whose position has been reached runs, in position order.
  const scheduled: { pos: number; fn: () => void }[] = [];
  const later = (pos: number, fn: () => void) => scheduled.push({ pos, fn });
  const profileEdit = (actor: number, why: string) =>
    push({ kind: 'profile', actor, deps: [], displayName: `account ${actor}`, description: `${why} at step ${actions.length}` });

  // Deactivations: a profile edit just before each (a write then a deactivation, as close as the PDS allows), and a
  // reactivation later; the first comes back at once (deactivate and reactivate in quick succession), the last never.
  deactivated.forEach((actor, k) => {
    const start = at(0.08 + 0.16 * k);
    const gap = k === 0 ? 0 : at(0.04 + 0.04 * random.next());
    later(start, () => {
      profileEdit(actor, 'edited before a deactivation');
      push({ kind: 'deactivate', actor, deps: [] });
      status.set(actor, 'deactivated');
      if (k === 0) {
        push({ kind: 'activate', actor, deps: [] });
        status.set(actor, 'active');
        profileEdit(actor, 'edited right after a reactivation');
      }
    });
    if (k > 0 && k < deactivated.length - 1) {
      later(start + gap, () => {
        push({ kind: 'activate', actor, deps: [] });
        status.set(actor, 'active');
      });
    }
  });
  // Handle changes; the last one takes the handle the first gave up (a handle moving between DIDs).
  renamed.forEach((actor, k) => {
    later(at(0.05 + 0.15 * k), () => {
      const handle = k === renamed.length - 1 ? `${o.handlePrefix}${renamed[0]}.test` : `${o.handlePrefix}${actor}-r${k}.test`;
      const deps = k === renamed.length - 1 ? actions.filter((a) => a.kind === 'handle' && a.actor === renamed[0]).map((a) => a.id) : [];
      push({ kind: 'handle', actor, deps, handle });
    });
  });
  later(at(0.4), () => {
    push({ kind: 'delete-account', actor: deleted, deps: [] });
    status.set(deleted, 'deleted');
    for (const [id, p] of posts) if (p.actor === deleted) posts.delete(id);
  });

  const active = () => [...status].filter(([, s]) => s === 'active').map(([i]) => i);
  // The actors of scripted actions: the pausable account only in the first part of the script, so that the harness's
  // own deactivation of it later cannot land between two of its writes (the PDS refuses those: "Account is
  // deactivated"). It stays a subject others follow, block and like.
  const pausable = RESERVED - 1;
  const actors = () => (actions.length < at(PAUSABLE_FROM) ? active() : active().filter((i) => i !== pausable));
  const postIds = () => [...posts.keys()];

  scheduled.sort((a, b) => a.pos - b.pos);
  const runDue = (all: boolean) => {
    while (scheduled.length > 0 && (all || scheduled[0]!.pos <= actions.length)) scheduled.shift()!.fn();
  };
  while (actions.length < o.actions) {
    runDue(false);
    const actor = random.pick(actors());
    const roll = random.next();
    const targets = postIds();
    const target = targets.length === 0 ? undefined : random.pick(targets);
    if (roll < 0.28 || target === undefined) {
      const r = random.next();
      const embed = r < 0.05 ? ('external' as const) : r < 0.08 ? ('image' as const)
        : r < 0.14 && target !== undefined ? { quote: target } : r < 0.155 && target !== undefined ? { quoteWithMedia: target } : undefined;
      const deps = embed !== undefined && typeof embed === 'object' ? [target!] : [];
      const id = push({ kind: 'post', actor, deps, text: `post ${actions.length} by ${actor}`, ...(random.chance(0.2) ? { langs: ['en'] } : {}), ...(embed === undefined ? {} : { embed }) });
      posts.set(id, { actor, root: id });
      listOf(ownPosts, actor).push(id);
    } else if (roll < 0.4) {
      const parent = posts.get(target)!;
      const id = push({ kind: 'post', actor, deps: [target, parent.root], text: `reply ${actions.length} to ${target}`, reply: { root: parent.root, parent: target } });
      posts.set(id, { actor, root: parent.root });
      listOf(ownPosts, actor).push(id);
    } else if (roll < 0.6) {
      listOf(undoable, actor).push(push({ kind: 'like', actor, deps: [target], target }));
    } else if (roll < 0.68) {
      listOf(undoable, actor).push(push({ kind: 'repost', actor, deps: [target], target }));
    } else if (roll < 0.76) {
      const others = active().filter((s) => s !== actor && !edges.has(`f${actor}>${s}`));
      if (others.length === 0) continue;
      const subject = random.pick(others);
      edges.add(`f${actor}>${subject}`);
      listOf(undoable, actor).push(push({ kind: 'follow', actor, deps: [], subject }));
    } else if (roll < 0.78) {
      const others = active().filter((s) => s !== actor && !edges.has(`b${actor}>${s}`));
      if (others.length === 0) continue;
      const subject = random.pick(others);
      edges.add(`b${actor}>${subject}`);
      listOf(undoable, actor).push(push({ kind: 'block', actor, deps: [], subject }));
    } else if (roll < 0.86) {
      const mine = listOf(undoable, actor);
      if (mine.length === 0) continue;
      const undo = mine.splice(random.int(0, mine.length - 1), 1)[0]!;
      const a = actions[undo]!;
      if (a.kind === 'follow') edges.delete(`f${actor}>${a.subject}`);
      if (a.kind === 'block') edges.delete(`b${actor}>${a.subject}`);
      push({ kind: 'undo', actor, deps: [undo], target: undo });
    } else if (roll < 0.9) {
      const mine = listOf(ownPosts, actor).filter((id) => posts.has(id));
      if (mine.length === 0) continue;
      const victim = random.pick(mine);
      posts.delete(victim);
      push({ kind: 'undo', actor, deps: [victim], target: victim });
    } else if (roll < 0.95) {
      profileEdit(actor, 'edited');
    } else if (roll < 0.98) {
      push({ kind: 'multi', actor, deps: [target], target });
    } else {
      listOf(undoable, actor).push(push({ kind: 'other', actor, deps: [], collection: random.chance(0.5) ? 'com.example.chaos.note' : 'app.bsky.graph.list' }));
    }
  }
  runDue(true);
  const leftDeactivated = deactivated[deactivated.length - 1]!;
  return { actions, deactivated, leftDeactivated, renamed, deleted, reserved: Array.from({ length: RESERVED }, (_, i) => i), pausable };
}

// A 1x1 transparent PNG.
const PNG = Uint8Array.from(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'));

export interface ActivityHooks {
  /** Runs before the account deletion is sent (the chaos suite lets the firehose adapter catch up first). */
  beforeDeleteAccount?: () => Promise<void>;
  /** Admin auth and URL for com.atproto.admin.deleteAccount. */
  admin: { url: string; auth: string };
}

export interface ActivityRun {
  /** Actions finished (done or failed), for progress-anchored fault schedules. */
  readonly finished: number;
  readonly total: number;
  readonly failures: { id: number; kind: string; err: string }[];
  done: Promise<void>;
  /** Resolves once every action of account `actor` has finished (done or failed). */
  actorSettled(actor: number): Promise<void>;
}

export function runActivity(plan: ActivityPlan, accounts: readonly Account[], lanes: number, hooks: ActivityHooks): ActivityRun {
  const results = new Map<number, Promise<Ref | undefined>>();
  const settle = new Map<number, (ref: Ref | undefined) => void>();
  for (const a of plan.actions) results.set(a.id, new Promise((r) => settle.set(a.id, r)));
  const failures: { id: number; kind: string; err: string }[] = [];
  let finished = 0;
  const now = () => new Date().toISOString();
  const rkeyOf = (uri: string) => uri.split('/').pop()!;

  const perform = async (a: Action, refs: (Ref | undefined)[]): Promise<Ref | undefined> => {
    const acct = accounts[a.actor]!;
    const agent = acct.agent;
    const ref = (id: number) => refs[a.deps.indexOf(id)]!;
    switch (a.kind) {
      case 'post': {
        const record: Record<string, unknown> = { text: a.text, createdAt: now() };
        if (a.langs !== undefined) record['langs'] = a.langs;
        if (a.reply !== undefined) record['reply'] = { root: ref(a.reply.root), parent: ref(a.reply.parent) };
        if (a.embed === 'external') {
          record['embed'] = { $type: 'app.bsky.embed.external', external: { uri: `https://example.com/${a.id}`, title: `link ${a.id}`, description: 'a link' } };
        } else if (a.embed === 'image') {
          const blob = (await agent.uploadBlob(PNG, { encoding: 'image/png' })).data.blob;
          record['embed'] = { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: `image ${a.id}` }] };
        } else if (a.embed !== undefined && 'quote' in a.embed) {
          record['embed'] = { $type: 'app.bsky.embed.record', record: ref(a.embed.quote) };
        } else if (a.embed !== undefined) {
          const blob = (await agent.uploadBlob(PNG, { encoding: 'image/png' })).data.blob;
          record['embed'] = {
            $type: 'app.bsky.embed.recordWithMedia',
            record: { $type: 'app.bsky.embed.record', record: ref(a.embed.quoteWithMedia) },
            media: { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: '' }] },
          };
        }
        const res = await agent.post(record as never);
        return { uri: res.uri, cid: res.cid };
      }
      case 'like':
        return agent.like(ref(a.target).uri, ref(a.target).cid);
      case 'repost':
        return agent.repost(ref(a.target).uri, ref(a.target).cid);
      case 'follow':
        return agent.follow(accounts[a.subject]!.did);
      case 'block': {
        const res = await agent.app.bsky.graph.block.create({ repo: acct.did }, { subject: accounts[a.subject]!.did, createdAt: now() });
        return { uri: res.uri, cid: res.cid };
      }
      case 'undo': {
        const uri = ref(a.target).uri;
        const [, , repo, collection] = uri.split('/');
        await agent.com.atproto.repo.deleteRecord({ repo: repo!, collection: collection!, rkey: rkeyOf(uri) });
        return undefined;
      }
      case 'profile':
        await agent.com.atproto.repo.putRecord({
          repo: acct.did, collection: 'app.bsky.actor.profile', rkey: 'self',
          record: { $type: 'app.bsky.actor.profile', displayName: a.displayName, description: a.description, createdAt: now() },
        });
        return undefined;
      case 'multi': {
        const t = ref(a.target);
        await agent.com.atproto.repo.applyWrites({
          repo: acct.did,
          writes: [
            { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: { $type: 'app.bsky.feed.post', text: `multi ${a.id} one`, createdAt: now() } },
            { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: { $type: 'app.bsky.feed.post', text: `multi ${a.id} two`, createdAt: now() } },
            { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.like', value: { $type: 'app.bsky.feed.like', subject: t, createdAt: now() } },
          ],
        });
        return undefined;
      }
      case 'other': {
        const record = a.collection === 'app.bsky.graph.list'
          ? { $type: a.collection, name: `list ${a.id}`, purpose: 'app.bsky.graph.defs#curatelist', createdAt: now() }
          : { $type: a.collection, body: `note ${a.id}`, createdAt: now() };
        const res = await agent.com.atproto.repo.createRecord({ repo: acct.did, collection: a.collection, record, validate: a.collection !== 'com.example.chaos.note' });
        return { uri: res.data.uri, cid: res.data.cid };
      }
      case 'deactivate':
        await agent.com.atproto.server.deactivateAccount({});
        return undefined;
      case 'activate':
        await agent.com.atproto.server.activateAccount();
        return undefined;
      case 'handle':
        await agent.com.atproto.identity.updateHandle({ handle: a.handle });
        acct.handle = a.handle;
        return undefined;
      case 'delete-account': {
        await hooks.beforeDeleteAccount?.();
        const res = await fetch(`${hooks.admin.url}/xrpc/com.atproto.admin.deleteAccount`, {
          method: 'POST', headers: { 'content-type': 'application/json', authorization: hooks.admin.auth }, body: JSON.stringify({ did: acct.did }),
        });
        if (!res.ok) throw new Error(`deleteAccount answered ${res.status}: ${await res.text()}`);
        return undefined;
      }
    }
  };

  const lane = async (n: number) => {
    for (const a of plan.actions) {
      if (a.actor % lanes !== n) continue;
      const refs = await Promise.all(a.deps.map((d) => results.get(d)!));
      let out: Ref | undefined;
      if (refs.some((r, i) => r === undefined && needsRef(plan.actions[a.deps[i]!]!))) {
        failures.push({ id: a.id, kind: a.kind, err: `skipped: an action it depends on failed (${a.deps.join(', ')})` });
      } else {
        try {
          out = await perform(a, refs);
        } catch (err) {
          failures.push({ id: a.id, kind: a.kind, err: err instanceof Error ? err.message : String(err) });
        }
      }
      finished++;
      settle.get(a.id)!(out);
    }
  };

  const done = Promise.all(Array.from({ length: lanes }, (_, n) => lane(n))).then(() => undefined);
  return {
    get finished() {
      return finished;
    },
    total: plan.actions.length,
    failures,
    done,
    actorSettled: async (actor) => {
      await Promise.all(plan.actions.filter((a) => a.actor === actor).map((a) => results.get(a.id)));
    },
  };
}

/** Actions whose result is a record others refer to (handle dependencies carry no record). */
function needsRef(a: Action): boolean {
  return a.kind !== 'handle';
}
