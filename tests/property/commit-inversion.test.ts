// Sync 1.1 inversion accepts every valid proof, whatever order the message lists its ops in, and refuses, never
// mis-roots, when a block it needs is missing. Trees and op sets are random subsets of a key universe mined to make a
// perfect four-layer MST (so creates and deletes split and merge nodes on every layer), plus keys on layers 0 and 1
// between them; an empty op set is an empty commit. The trees and both proof sets come from @atproto/repo
// (tests/helpers/commit-proofs.ts). On the message-order inversion this failed within a few dozen runs (an empty
// commit refused as missing_block) and, past those, within a few hundred (a minimal proof refused for the ops'
// order: tests/unit/atproto/verify-commit.test.ts keeps such a case).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CID } from 'multiformats/cid';
import { CidLink } from '../../functions/atproto/cid-link.ts';
import { verifyCommit, type CommitOp, type CommitToVerify } from '../../functions/atproto/commit/verify-commit.ts';
import { SkytideError } from '../../functions/errors.ts';
import { buildCase, commitMessage, keyHeight, leafCid, link, type Case } from '../helpers/commit-proofs.ts';

// In key order, the heights of a perfect tree: one key on layer 3, two on layer 2, four on 1, eight on 0.
const PERFECT = [0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0];
const EXTRAS = 12;

async function mineUniverse(): Promise<{ universe: string[]; perfect: string[] }> {
  const perfect: string[] = [];
  const extras: string[] = [];
  for (let n = 0; perfect.length < PERFECT.length; n++) {
    const key = `com.example.record/${n.toString(36).padStart(4, '0')}`;
    const h = await keyHeight(key);
    if (h === PERFECT[perfect.length]) perfect.push(key);
    else if (n % 5 === 0 && h <= 1) extras.push(key); // lower keys between the perfect tree's
  }
  const step = Math.max(1, Math.floor(extras.length / EXTRAS));
  return { universe: [...perfect, ...extras.filter((_, i) => i % step === 0).slice(0, EXTRAS)].sort(), perfect };
}

const { universe, perfect } = await mineUniverse();
// The first seven keys of the perfect tree make a perfect three-layer tree of their own.
const SMALL_PERFECT = perfect.slice(0, 7).map((key) => universe.indexOf(key));

type State = 'absent' | 'kept' | 'created' | 'deleted' | 'updated';
const fateArb = fc.constantFrom<State>('kept', 'created', 'deleted', 'updated');

async function caseOf(states: State[], ranks: number[]): Promise<Case> {
  const before = new Map<string, CID>();
  const after = new Map<string, CID>();
  const ops: (CommitOp & { rank: number })[] = [];
  for (let i = 0; i < universe.length; i++) {
    const key = universe[i]!;
    const old = await leafCid(`${key}#old`);
    const now = await leafCid(`${key}#new`);
    const rank = ranks[i]!;
    switch (states[i]) {
      case 'kept':
        before.set(key, old);
        after.set(key, old);
        break;
      case 'created':
        after.set(key, now);
        ops.push({ action: 'create', path: key, cid: link(now), rank });
        break;
      case 'deleted':
        before.set(key, old);
        ops.push({ action: 'delete', path: key, cid: null, prev: link(old), rank });
        break;
      case 'updated':
        before.set(key, old);
        after.set(key, now);
        ops.push({ action: 'update', path: key, cid: link(now), prev: link(old), rank });
        break;
      default:
        break;
    }
  }
  // The message's order: any permutation, from the ranks.
  ops.sort((a, b) => a.rank - b.rank);
  return { before, after, ops: ops.map(({ rank: _, ...op }) => op) };
}

async function outcome(p: Promise<{ data: { toString(): string }; inverted: boolean }>): Promise<string> {
  try {
    const v = await p;
    return `ok ${v.data.toString()} inverted=${v.inverted}`;
  } catch (err) {
    return err instanceof SkytideError ? err.reason : `crash: ${String(err)}`;
  }
}

/** The outcome, and the MST nodes the checks read (every block asked for but the commit's). */
async function verifyReading(message: CommitToVerify): Promise<{ result: string; reads: Set<string> }> {
  const reads = new Set<string>();
  const commit = message.commit.toString();
  const blocks = new Proxy(message.blocks, {
    get(target, property) {
      if (property === 'get') {
        return (cid: Uint8Array) => {
          const name = new CidLink(cid).toString();
          if (name !== commit) reads.add(name);
          return target.get(cid);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { result: await outcome(verifyCommit({ ...message, blocks }, undefined)), reads };
}

const ranksArb = fc.array(fc.nat(), { minLength: universe.length, maxLength: universe.length });
// Which keys take part, each one's fate, and each op's rank in the message. Half the cases are any subset of the
// universe (few keys or many); half are the small perfect tree, each key absent or with any fate, where the order
// of inversion shows most (about 3% of its pairs of trees need a block for ascending order that highest key first
// does not read).
const arb = fc.oneof(
  fc
    .record({
      members: fc.uniqueArray(fc.nat({ max: universe.length - 1 }), { maxLength: universe.length }),
      fates: fc.array(fateArb, { minLength: universe.length, maxLength: universe.length }),
      ranks: ranksArb,
    })
    .map(({ members, fates, ranks }) => ({ states: universe.map((_, i): State => (members.includes(i) ? fates[i]! : 'absent')), ranks })),
  fc
    .record({ fates: fc.array(fc.constantFrom<State>('absent', 'kept', 'created', 'deleted', 'updated'), { minLength: 7, maxLength: 7 }), ranks: ranksArb })
    .map(({ fates, ranks }) => ({ states: universe.map((_, i): State => fates[SMALL_PERFECT.indexOf(i)] ?? 'absent'), ranks })),
);

describe('commit inversion: every valid proof, in any message order', () => {
  it('is accepted from the minimal proof and from the covering proof; without a block it reads it is missing_block', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async ({ states, ranks }) => {
        const c = await caseOf(states, ranks);
        const built = await buildCase(c);
        const ok = `ok ${built.rootAfter.toString()} inverted=true`;
        const minimal = await verifyReading(await commitMessage(built, c.ops, built.minimal));
        expect(minimal.result).toBe(ok);
        expect(await outcome(verifyCommit(await commitMessage(built, c.ops, built.covering), undefined))).toBe(ok);
        // Without a node the checks read: refused as missing_block, never a wrong root. A node of the minimal proof
        // that they do not read (@atproto/repo reads a keyless node's child to learn its layer; the layer is
        // already known from the parent) can go.
        for (const gone of built.minimal) {
          const without = [...built.minimal].filter((cid) => cid !== gone);
          const result = await outcome(verifyCommit(await commitMessage(built, c.ops, without), undefined));
          expect(result, `without ${gone}`).toBe(minimal.reads.has(gone) ? 'missing_block' : ok);
        }
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  it('an op that contradicts the tree before (a create of a kept key, a wrong prev) is refused, never accepted', async () => {
    await fc.assert(
      fc.asyncProperty(arb, fc.nat(), async ({ states, ranks }, pick) => {
        const c = await caseOf(states, ranks);
        if (c.ops.length === 0) return;
        const built = await buildCase(c);
        const i = pick % c.ops.length;
        const op = c.ops[i]!;
        const bogus = link(await leafCid('bogus'));
        // A create claimed for a key that was there (its update told as a create), a create told as an update
        // of something, and a delete or update with a prev that was not the record.
        const lie: CommitOp =
          op.action === 'update' ? { action: 'create', path: op.path, cid: op.cid }
          : op.action === 'create' ? { action: 'update', path: op.path, cid: op.cid, prev: bogus }
          : { ...op, prev: bogus };
        const ops = c.ops.map((o, j) => (j === i ? lie : o));
        expect(await outcome(verifyCommit(await commitMessage(built, ops, built.covering), undefined))).toBe('invalid_mst');
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
