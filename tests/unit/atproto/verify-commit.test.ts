// verifyCommit's inversion (sync 1.1): fixed cases beside the property test (tests/property/commit-inversion.test.ts),
// each of which the message-order inversion got wrong or the old checks let through.
import { describe, expect, it } from 'vitest';
import type { CID } from 'multiformats/cid';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CidLink } from '../../../functions/atproto/cid-link.ts';
import { readCarBlocks } from '../../../functions/atproto/car.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { verifyCommit, type CommitOp } from '../../../functions/atproto/commit/verify-commit.ts';
import { SkytideError } from '../../../functions/errors.ts';
import { blocksRead, buildCase, COMMIT_DID, COMMIT_REV, commitMessage, keyHeight, leafCid, link, type BuiltCase } from '../../helpers/commit-proofs.ts';
import { block, encodeCar } from '../../helpers/frames.ts';

const key = (rkey: string) => `com.example.record/${rkey}`;

async function outcome(p: Promise<{ data: { toString(): string }; inverted: boolean }>): Promise<string> {
  try {
    const v = await p;
    return `ok ${v.data.toString()} inverted=${v.inverted}`;
  } catch (err) {
    return err instanceof SkytideError ? `${err.reason}: ${err.message}` : `crash: ${String(err)}`;
  }
}

async function tree(keys: string[], version = 'old'): Promise<Map<string, CID>> {
  return new Map(await Promise.all(keys.map(async (k) => [k, await leafCid(`${k}#${version}`)] as const)));
}

describe('verifyCommit: the order of inversion', () => {
  // The property test's counterexample on the message-order code (2.7% of all pairs of subsets of this small perfect
  // tree fail the same way): before {0000, 000m}, after {0000, 0001}. Inverted highest key first, 000m goes back
  // above the root and 0001 comes out of it, and the node holding 0000 is never opened; inverted in the message's
  // order, removing 0001 first leaves a root with one child, whose trimming must open that node.
  it('accepts the proof that inverting highest key first needs, whichever order the message lists its ops in', async () => {
    expect(await Promise.all(['0000', '0001', '000m'].map((k) => keyHeight(key(k))))).toEqual([0, 1, 2]);
    const before = await tree([key('0000'), key('000m')]);
    const after = new Map([[key('0000'), before.get(key('0000'))!], [key('0001'), await leafCid('0001#new')]]);
    const create: CommitOp = { action: 'create', path: key('0001'), cid: link(after.get(key('0001'))!) };
    const del: CommitOp = { action: 'delete', path: key('000m'), cid: null, prev: link(before.get(key('000m'))!) };
    const built = await buildCase({ before, after, ops: [create, del] });
    // The message's order reads a node that the minimal proof leaves out.
    const ascending = await blocksRead(built.rootAfter, built.rootBefore, built.nodes, [create, del]);
    expect([...ascending].filter((cid) => !built.minimal.has(cid))).toHaveLength(1);
    const ok = `ok ${built.rootAfter.toString()} inverted=true`;
    expect(await outcome(verifyCommit(await commitMessage(built, [create, del], built.minimal), undefined))).toBe(ok);
    expect(await outcome(verifyCommit(await commitMessage(built, [del, create], built.minimal), undefined))).toBe(ok);
    expect(await outcome(verifyCommit(await commitMessage(built, [create, del], built.covering), undefined))).toBe(ok);
  });
});

describe('verifyCommit: an empty commit', () => {
  async function emptyCommit(): Promise<BuiltCase> {
    const data = await tree([key('0000'), key('0001'), key('0002'), key('000m')]);
    return buildCase({ before: data, after: data, ops: [] });
  }

  it('needs no block beyond the commit when prevData is data', async () => {
    const built = await emptyCommit();
    expect(built.rootBefore.toString()).toBe(built.rootAfter.toString());
    expect(await outcome(verifyCommit(await commitMessage(built, [], []), undefined))).toBe(`ok ${built.rootAfter.toString()} inverted=true`);
    expect(await outcome(verifyCommit(await commitMessage(built, [], [], null), undefined))).toBe(`ok ${built.rootAfter.toString()} inverted=false`);
  });

  it('is refused when prevData is another tree: a change the ops do not list', async () => {
    const built = await emptyCommit();
    const other = (await buildCase({ before: await tree([key('0000')]), after: await tree([key('0000')]), ops: [] })).rootAfter;
    expect(await outcome(verifyCommit(await commitMessage(built, [], [], other), undefined))).toMatch(/^invalid_mst: a commit with no ops/);
  });
});

describe('verifyCommit: ops that contradict each other or the tree', () => {
  async function oneCreate(): Promise<{ built: BuiltCase; create: CommitOp }> {
    const before = await tree([key('0000'), key('000m')]);
    const after = new Map([...before, [key('0001'), await leafCid('0001#new')]]);
    const create: CommitOp = { action: 'create', path: key('0001'), cid: link(after.get(key('0001'))!) };
    return { built: await buildCase({ before, after, ops: [create] }), create };
  }

  it('refuses two ops on one path', async () => {
    const { built, create } = await oneCreate();
    const again: CommitOp = { action: 'update', path: create.path, cid: create.cid, prev: link(await leafCid('x')) };
    expect(await outcome(verifyCommit(await commitMessage(built, [create, again], built.covering), undefined))).toBe(`invalid_commit: ${create.path} appears in two ops`);
    // Also without prevData, where nothing is inverted.
    expect(await outcome(verifyCommit(await commitMessage(built, [create, create], built.covering, null), undefined))).toBe(`invalid_commit: ${create.path} appears in two ops`);
  });

  it('refuses a create that names a prev, a delete that names a cid, and an update without prev', async () => {
    const { built, create } = await oneCreate();
    const prev = link(await leafCid('x'));
    const cases: [CommitOp, string][] = [
      [{ ...create, prev }, `invalid_commit: create of ${create.path} with a prev: the key was there`],
      [{ action: 'delete', path: key('000w'), cid: create.cid, prev }, `invalid_commit: delete of ${key('000w')} with a cid`],
      [{ action: 'update', path: create.path, cid: create.cid }, `invalid_commit: update of ${create.path} without prev`],
      [{ action: 'create', path: create.path, cid: null }, `invalid_commit: create of ${create.path} without a cid`],
    ];
    for (const [op, expected] of cases) expect(await outcome(verifyCommit(await commitMessage(built, [op], built.covering), undefined))).toBe(expected);
  });

  it('refuses a create of a key that was already there: inverting it does not give prevData', async () => {
    // 0000 is updated, but the message says it was created.
    const before = await tree([key('0000'), key('000m')]);
    const after = new Map([...before, [key('0000'), await leafCid('0000#new')]]);
    const update: CommitOp = { action: 'update', path: key('0000'), cid: link(after.get(key('0000'))!), prev: link(before.get(key('0000'))!) };
    const built = await buildCase({ before, after, ops: [update] });
    const lie: CommitOp = { action: 'create', path: update.path, cid: update.cid };
    expect(await outcome(verifyCommit(await commitMessage(built, [lie], built.covering), undefined))).toMatch(/^invalid_mst: inverting the ops gives .*a create of a key that was there/);
    expect(await outcome(verifyCommit(await commitMessage(built, [update], built.covering), undefined))).toBe(`ok ${built.rootAfter.toString()} inverted=true`);
  });

  it('refuses a hash-valid block that is not an MST node as invalid_mst, not a crash', async () => {
    const { built, create } = await oneCreate();
    // A map shaped like a node whose key is a number (the old loose reader threw a TypeError on it).
    const notANode = await block({ e: [{ k: 5, p: 0, t: null, v: null }], l: null });
    const message = await commitMessage({ ...built, rootAfter: notANode.cid, nodes: new Map([[notANode.cid.toString(), notANode.bytes]]) }, [create], [notANode.cid.toString()]);
    expect(await outcome(verifyCommit(message, undefined))).toMatch(/^invalid_mst: MST node: /);
  });
});

describe('verifyCommit: the signed commit', () => {
  /** A commit with no ops, carrying `extra`, signed over its own fields and, when `signed`, over `extra` too. */
  async function signedCommit(extra: Record<string, unknown>, signed: boolean) {
    const secret = new Uint8Array(32).fill(9);
    const built = await buildCase({ before: await tree([key('0000')]), after: await tree([key('0000')]), ops: [] });
    const fields = { did: COMMIT_DID, version: 3, data: built.rootAfter, rev: COMMIT_REV, prev: null };
    const sig = secp256k1.sign(encodeCbor(signed ? { ...fields, ...extra } : fields), secret, { prehash: true, lowS: true, format: 'compact' });
    const commit = await block({ ...fields, ...extra, sig });
    const car = readCarBlocks(encodeCar(commit.cid, [commit]));
    const message = { repo: COMMIT_DID, rev: COMMIT_REV, commit: new CidLink(commit.cid.bytes), roots: car.roots, blocks: car.blocks, ops: [], prevData: link(built.rootBefore) };
    return { message, key: { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) }, ok: `ok ${built.rootAfter.toString()} inverted=true` };
  }

  it('checks the signature over the commit\'s own fields only, as @atproto/repo and indigo do', async () => {
    // Found by an audit: a field beside did, version, data, rev and prev is signed by neither reference (@atproto/repo's
    // schema drops it, indigo's Commit struct never reads it); re-encoding it here failed such a commit as
    // bad_signature, and let one signed over such a field, a float included, verify.
    for (const [extra, signed, expected] of [
      [{}, true, 'ok'],
      [{ x: 1 }, false, 'ok'],
      [{ x: 1.5 }, false, 'ok'],
      [{ x: 1 }, true, 'bad_signature'],
      [{ x: 1.5 }, true, 'bad_signature'],
    ] as const) {
      const c = await signedCommit(extra, signed);
      const got = await outcome(verifyCommit(c.message, c.key));
      if (expected === 'ok') expect(got, JSON.stringify([extra, signed])).toBe(c.ok);
      else expect(got, JSON.stringify([extra, signed])).toMatch(/^bad_signature: /);
    }
  });
});

describe('verifyCommit: the commit\'s prev', () => {
  it('refuses a commit whose prev is missing or neither a link nor null as invalid_commit, as @atproto/repo\'s verifyProofs does', async () => {
    // Found by an audit: the repository spec says `prev` "must exist in the CBOR object" (a link or null), and the
    // commit schema of @atproto/repo (verifyProofs, which @atproto/sync's firehose runs) refuses the commit without it.
    const built = await buildCase({ before: await tree([key('0000')]), after: await tree([key('0000')]), ops: [] });
    const cases: [string, Record<string, unknown>, string | RegExp][] = [
      ['null', { prev: null }, `ok ${built.rootAfter.toString()} inverted=true`],
      ['a link', { prev: built.rootAfter }, `ok ${built.rootAfter.toString()} inverted=true`],
      ['missing', {}, /^invalid_commit: /],
      ['a string', { prev: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, /^invalid_commit: /],
    ];
    for (const [what, prev, expected] of cases) {
      const commit = await block({ did: COMMIT_DID, version: 3, data: built.rootAfter, rev: COMMIT_REV, ...prev, sig: new Uint8Array(64) });
      const car = readCarBlocks(encodeCar(commit.cid, [commit]));
      const message = { repo: COMMIT_DID, rev: COMMIT_REV, commit: new CidLink(commit.cid.bytes), roots: car.roots, blocks: car.blocks, ops: [], prevData: link(built.rootBefore) };
      const got = await outcome(verifyCommit(message, undefined));
      if (typeof expected === 'string') expect(got, what).toBe(expected);
      else expect(got, what).toMatch(expected);
    }
  });
});
