// The chaos suite's own machinery, checked on its own so that a red chaos run points at skytide, not at the harness:
// the proxy really refuses, resets and forwards; the truth model counts what it should (deleted accounts included);
// the table diff names missing, extra and changed rows; the exit audit reads a process's last words.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { diffTables, expectedTables, type PdsTruth } from '../helpers/appview-truth.ts';
import { exitAccount } from '../helpers/process-pool.ts';
import { createRandom } from '../helpers/seeded-random.ts';
import { planActivity } from '../helpers/pds-activity.ts';

/** Connects, sends `ping`, and says what happened: the echoed text, or the error code. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('connect', () => s.write('ping'));
    s.on('data', (d) => {
      got += d.toString();
      s.end();
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.on('close', () => resolve(got === '' ? 'closed' : got));
  });
}

describe('tcp proxy', () => {
  const echo = net.createServer((s) => s.on('error', () => {}).pipe(s));
  afterAll(() => new Promise<void>((r) => echo.close(() => r())));

  it('forwards when open, refuses when refusing, resets when dropping, and forwards again on the same port', async () => {
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port } });
    try {
      expect(await probe(proxy.port)).toBe('ping');
      await proxy.setMode('refuse');
      expect(await probe(proxy.port)).toBe('ECONNREFUSED');
      await proxy.setMode('drop');
      expect(await probe(proxy.port)).toBe('ECONNRESET');
      await proxy.setMode('open');
      expect(await probe(proxy.port)).toBe('ping');
      expect(proxy.stats).toMatchObject({ forwarded: 2, dropped: 1 });
    } finally {
      await proxy.close();
    }
  });

  it('cuts connections that are open when an outage starts', async () => {
    const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port } });
    try {
      const s = net.connect(proxy.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      const closed = new Promise<string>((r) => {
        s.once('error', (err: NodeJS.ErrnoException) => r(err.code ?? 'error'));
        s.once('close', () => r('closed'));
      });
      await new Promise((r) => setTimeout(r, 20));
      await proxy.setMode('refuse');
      expect(['ECONNRESET', 'closed']).toContain(await closed);
      expect(proxy.stats.cut).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const D = 'did:plc:dddddddddddddddddddddddd';
const at = '2026-01-01T00:00:00.000Z';
const rec = (did: string, collection: string, rkey: string, value: Record<string, unknown>) => ({
  uri: `at://${did}/${collection}/${rkey}`, cid: `cid-${rkey}`, did, collection, value: { $type: collection, createdAt: at, ...value },
});

describe('appview truth model', () => {
  const postA = rec(A, 'app.bsky.feed.post', 'p1', { text: 'hello' });
  const postD = { uri: `at://${D}/app.bsky.feed.post/gone`, cid: 'cid-gone' };
  const truth: PdsTruth = {
    accounts: [{ did: A, handle: 'a.test', status: null, commit: { cid: 'c1', rev: 'r1' } }, { did: B, handle: null, status: 'deactivated', commit: { cid: 'c2', rev: 'r2' } }],
    deleted: [D],
    records: [
      postA,
      rec(B, 'app.bsky.feed.post', 'p2', { text: 'reply', reply: { root: { uri: postA.uri, cid: postA.cid }, parent: { uri: postA.uri, cid: postA.cid } } }),
      rec(B, 'app.bsky.feed.post', 'p3', { text: 'quote', embed: { $type: 'app.bsky.embed.record', record: { uri: postA.uri, cid: postA.cid } } }),
      rec(B, 'app.bsky.feed.like', 'l1', { subject: { uri: postA.uri, cid: postA.cid } }),
      // A like of a deleted account's post: its row stays (B's record), its count goes with the account.
      rec(B, 'app.bsky.feed.like', 'l2', { subject: postD }),
      rec(B, 'app.bsky.feed.repost', 'r1', { subject: { uri: postA.uri, cid: postA.cid } }),
      rec(B, 'app.bsky.graph.follow', 'f1', { subject: A }),
      rec(B, 'app.bsky.graph.follow', 'f2', { subject: D }),
      rec(A, 'app.bsky.actor.profile', 'self', { displayName: 'A' }),
      rec(A, 'com.example.chaos.note', 'n1', { body: 'no plugin' }),
    ],
  };
  const t = expectedTables(truth);

  it('counts every aggregate from the records, and none for a deleted account', () => {
    expect(t['post_agg']).toEqual([{ uri: postA.uri, likeCount: 1, replyCount: 1, repostCount: 1, quoteCount: 1, bookmarkCount: 0 }]);
    expect(t['profile_agg']).toEqual([
      { did: A, followersCount: 1, followsCount: 0, postsCount: 1 },
      { did: B, followersCount: 0, followsCount: 2, postsCount: 2 },
    ]);
    expect(t['like']).toHaveLength(2);
  });

  it('has a row per record, typed rows per plugin, and actors with their verified handle', () => {
    expect(t['record']).toHaveLength(10);
    expect(t['feed_item']!.map((r) => r['type']).sort()).toEqual(['post', 'post', 'post', 'repost']);
    expect(t['quote']).toEqual([{ uri: truth.records[2]!.uri, cid: 'cid-p3', subject: postA.uri, subjectCid: postA.cid, createdAt: at }]);
    expect(t['actor']).toEqual([{ did: A, handle: 'a.test', upstreamStatus: null }, { did: B, handle: null, upstreamStatus: 'deactivated' }]);
    expect(t['profile']).toHaveLength(1);
  });

  it('diffs name missing, extra and changed rows per table', () => {
    const actual = structuredClone(t);
    actual['like']!.pop();
    actual['post_agg']![0]!['likeCount'] = 2;
    actual['actor']!.push({ did: D, handle: null, upstreamStatus: 'deleted' });
    const diffs = Object.fromEntries(diffTables(t, actual).map((d) => [d.table, d]));
    expect(diffs['like']).toMatchObject({ missing: [t['like']![1]], extra: [], changed: [] });
    expect(diffs['post_agg']!.changed).toHaveLength(1);
    expect(diffs['actor']!.extra).toEqual([{ did: D, handle: null, upstreamStatus: 'deleted' }]);
    expect(diffs['post']).toMatchObject({ missing: [], extra: [], changed: [] });
  });
});

describe('activity plan', () => {
  it('is the same for the same seed, and holds every kind of event the suite promises', () => {
    const plan = (seed: number) => planActivity(createRandom(seed), { accounts: 50, actions: 2000, handlePrefix: 'chaos' });
    const one = plan(7);
    expect(plan(7)).toEqual(one);
    expect(plan(8)).not.toEqual(one);
    const kinds = new Set(one.actions.map((a) => a.kind));
    for (const k of ['post', 'like', 'repost', 'follow', 'block', 'undo', 'profile', 'multi', 'other', 'deactivate', 'activate', 'handle', 'delete-account']) {
      expect(kinds).toContain(k);
    }
    // Nobody acts while deactivated or after being deleted; one account is left deactivated.
    const state = new Map<number, string>();
    for (const a of one.actions) {
      if (a.kind === 'deactivate') state.set(a.actor, 'off');
      else if (a.kind === 'activate') state.set(a.actor, 'on');
      else {
        expect(state.get(a.actor) ?? 'on', `action ${a.id} by ${a.actor}`).toBe('on');
        if (a.kind === 'delete-account') state.set(a.actor, 'deleted');
      }
    }
    expect([...state].filter(([, s]) => s === 'off').map(([i]) => i)).toEqual([one.leftDeactivated]);
  });

  it('leaves the pausable account unwritten in the second half, so the harness can deactivate it then', () => {
    // The harness deactivates and reactivates it during the PDS outage (at 78% of the script); a scripted write of
    // its between the two was refused by the PDS ("Account is deactivated") and failed the suite (CHAOS_SEED=20261206).
    for (const seed of [1, 2, 20261206]) {
      const plan = planActivity(createRandom(seed), { accounts: 50, actions: 2000, handlePrefix: 'chaos' });
      expect(plan.reserved).toContain(plan.pausable);
      const its = plan.actions.filter((a) => a.actor === plan.pausable);
      expect(its.length, `seed ${seed}: it writes in the first half`).toBeGreaterThan(0);
      expect(Math.max(...its.map((a) => a.id)), `seed ${seed}`).toBeLessThan(1000);
      expect(its.some((a) => ['deactivate', 'activate', 'delete-account', 'handle'].includes(a.kind))).toBe(false);
    }
  });
});

describe('exit audit', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skytide-exit-audit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const log = (name: string, lines: string[]) => {
    const file = path.join(dir, name);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  };

  it('takes the supervisor\'s last words and the causes before them', () => {
    const file = log('crashed.log', [
      JSON.stringify({ level: 'error', time: at, component: 'supervisor', msg: 'task exited', task: 'firehose:x', reason: 'threw', err: 'StreamWriteError: boom' }),
      JSON.stringify({ level: 'info', time: at, component: 'supervisor', msg: 'supervisor exiting', exitCode: 1 }),
    ]);
    const account = exitAccount(file);
    expect(account.logged).toBe(true);
    expect(account.cause).toContain('StreamWriteError: boom');
  });

  it('says when a process died without a word', () => {
    const file = log('silent.log', [JSON.stringify({ level: 'info', time: at, component: 'supervisor', msg: 'starting tasks' }), 'Segmentation fault']);
    expect(exitAccount(file)).toEqual({ logged: false, cause: 'last line: Segmentation fault' });
  });
});
