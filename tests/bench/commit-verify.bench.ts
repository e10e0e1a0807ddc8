// Full-commit verification on the live path: real sync 1.1 commits captured from a real PDS (@atproto/dev-env on
// 127.0.0.1), decoded, signature-checked, op proofs walked and inverted to prevData, in frames/s; beside
// @atproto/sync's parseCommitAuthenticated (decode, signature, op proofs; no inversion) in the same run.
import WebSocket from 'ws';
import { Frame } from '@atproto/xrpc-server';
import { parseCommitAuthenticated } from '@atproto/sync';
import { decodeRepoFrame } from '../../functions/atproto/repo-frame.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import type { IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { formatDidKey } from '../../functions/atproto/crypto/keys.ts';
import { startDevNetwork } from '../helpers/dev-network.ts';
import { compareOpsPerSecond } from './measure.ts';
import type { BenchRow } from './types.ts';

const COMMITS = Number(process.env['BENCH_COMMITS'] ?? 300);

async function capture(url: string, until: number): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const frames: Uint8Array[] = [];
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`);
    ws.on('message', (data: Buffer) => {
      frames.push(new Uint8Array(data));
      if (frames.length >= until) {
        ws.close();
        resolve(frames);
      }
    });
    ws.on('error', reject);
  });
}

export async function runCommitVerifyBench(): Promise<BenchRow[]> {
  const network = await startDevNetwork();
  try {
    const users = [await network.createUser('bench1'), await network.createUser('bench2')];
    for (let i = 0; i < COMMITS; i++) {
      const u = users[i % 2]!;
      if (i % 3 === 2) await u.agent.like(`at://${u.did}/app.bsky.feed.post/3l3qo2vuowo2b`, 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm');
      else await u.agent.post({ text: `bench post ${i} with a realistic amount of text in it`, createdAt: new Date().toISOString() });
    }
    const all = await capture(network.pdsUrl, await network.latestSeq());
    const commits = all.filter((f) => {
      const frame = Frame.fromBytes(f);
      return frame.isMessage() && frame.header.t === '#commit' && ((frame.body as { ops: unknown[] }).ops.length > 0);
    });
    // Keys resolved once, as the Redis identity cache would serve them.
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: network.plcUrl, allowPrivate: true });
    const keys = new Map(await Promise.all(users.map(async (u) => [u.did, await resolver.resolve(u.did)] as const)));
    const identity: IdentityResolver = { resolve: async (did) => keys.get(did)! };
    const didKeys = new Map([...keys].map(([did, id]) => [did, formatDidKey(id.signingKey)]));
    const idResolver = { did: { resolveAtprotoKey: async (did: string) => didKeys.get(did)! } };

    // Both must accept every real commit, or the comparison means nothing.
    for (const f of commits) {
      const out = await decodeRepoFrame(f, { identity });
      if (out.kind !== 'sequenced' || out.resync.length > 0) throw new Error(`skytide rejected a real commit: ${JSON.stringify(out.kind === 'sequenced' ? out.resync : out)}`);
    }
    const { ours, atproto } = await compareOpsPerSecond({
      ours: async () => {
        for (const f of commits) await decodeRepoFrame(f, { identity });
        return commits.length;
      },
      atproto: async () => {
        for (const f of commits) {
          const frame = Frame.fromBytes(f);
          await parseCommitAuthenticated(idResolver as never, frame.body as never);
        }
        return commits.length;
      },
    });
    return [
      { name: 'commit verify: skytide (hashes, signature, proofs, inversion)', unit: 'frames/s', value: ours, ratio: ours / atproto, baseline: '@atproto/sync', note: `${commits.length} real commits` },
      { name: 'commit verify: @atproto/sync parseCommitAuthenticated', unit: 'frames/s', value: atproto, ratio: 1, baseline: '@atproto/sync', note: 'signature and proofs, no inversion' },
    ];
  } finally {
    await network.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await runCommitVerifyBench()) console.log(row);
}
