// What the fuzzer attacks (issue 13), each with its seeds (real inputs from tests/fixtures and the helpers' builders,
// plus fast-check generated ones) and its oracle: the total functions must never throw; the throwing ones may only
// throw a SkytideError (or their module's own typed error) whose reason is in the closed set; inputs the reference
// (@atproto/lex-cbor, @atproto/repo) judges otherwise are disagreements, each given a category here so the note
// can say why; and a mutated input that is accepted must not change what was signed (roots, record CIDs).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import { decode as refDecode, encode as refEncode } from '@atproto/lex-cbor';
import { readCarWithRoot } from '@atproto/repo';
import type { Hono } from 'hono';
import { decodeRepoFrame } from '../../functions/atproto/repo-frame.ts';
import { decodeLabelFrame } from '../../functions/atproto/label-frame.ts';
import { decodeLex, LexCborError } from '../../functions/atproto/lex-cbor.ts';
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { lexToCbor } from '../../functions/atproto/lex-json.ts';
import { readCarBlocks } from '../../functions/atproto/car.ts';
import { readRepoCar } from '../../functions/atproto/repo/read-car.ts';
import { oneChunk } from '../helpers/one-chunk.ts';
import { allRecords, verifyRepo } from '../../functions/atproto/repo/verify-repo.ts';
import type { PublicKey } from '../../functions/atproto/crypto/keys.ts';
import { Mst } from '../../functions/atproto/mst/mst.ts';
import { CidLink } from '../../functions/atproto/cid-link.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { parseDidDocument, type IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { parseLabelItem } from '../../functions/label/entry.ts';
import { parseLabel } from '../../functions/label/label.ts';
import { problemWith } from '../../functions/label/verify-label.ts';
import { isReason } from '../helpers/reasons.ts';
import { SkytideError } from '../../functions/errors.ts';
import type { JsonObject, JsonValue } from '../../functions/events.ts';
import { silentLog, systemClock, type Sql } from '../../functions/ports.ts';
import { createApp } from '../../adapters/http/app.ts';
import { createMetrics } from '../../adapters/observability/metrics.ts';
import { block, buildCommitFrame, encodeCar, encodeFrame, accountFrame, identityFrame, syncFrame } from '../helpers/frames.ts';
import { buildCase, leafCid, link, COMMIT_DID, COMMIT_REV } from '../helpers/commit-proofs.ts';
import type { CommitOp } from '../../functions/atproto/commit/verify-commit.ts';

/** What one case came to. `reason` for a rejection; `crash` for a throw the contract does not allow. */
export type Verdict =
  | { kind: 'accepted' }
  | { kind: 'rejected'; reason: string }
  | { kind: 'crash'; error: string }
  | { kind: 'disagreement'; category: string; explained: boolean; detail: string };

export interface Seed {
  bytes: Uint8Array;
  /** What an accepted mutation must still say (the signed parts), when the target checks it. */
  expect?: unknown;
}

export interface Target {
  name: string;
  /** Share of the cases (weights are relative). */
  weight: number;
  seeds: Seed[];
  run(input: Uint8Array, seed: Seed): Promise<Verdict> | Verdict;
}

const FIXTURES = new URL('../fixtures/', import.meta.url);
const read = (path: string) => new Uint8Array(readFileSync(new URL(path, FIXTURES)));
const readJson = <T>(path: string) => JSON.parse(readFileSync(new URL(path, FIXTURES), 'utf8')) as T;

const reasonOf = (err: unknown): Verdict => {
  if (err instanceof SkytideError) return isReason(err.reason) ? { kind: 'rejected', reason: err.reason } : { kind: 'crash', error: `reason outside the closed set: ${err.reason}` };
  return { kind: 'crash', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
};

const checkReasons = (reasons: readonly string[]): Verdict | undefined => {
  const bad = reasons.find((r) => !isReason(r));
  return bad === undefined ? undefined : { kind: 'crash', error: `reason outside the closed set: ${bad}` };
};

// ---------- DAG-CBOR -> lex-JSON, against @atproto/lex-cbor ----------

const cidArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((digest) => CID.createV1(0x71, { code: 0x12, size: 32, digest, bytes: Uint8Array.from([0x12, 0x20, ...digest]) } as never));
const valueArb = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.maxSafeInteger(),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 30 }),
    cidArb,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie('node'), { maxKeys: 4 }),
  ),
})).node;

/** Generated records (fast-check, fixed seed so the corpus is the same every run). */
export function generatedRecords(count: number, seed: number): Uint8Array[] {
  return fc.sample(valueArb, { numRuns: count, seed }).map((v) => encodeCbor({ $type: 'com.example.fuzz', v }));
}

/** Why the reference and we judge a DAG-CBOR input differently, when the difference is on purpose. */
function lexCategory(ours: string): { category: string; explained: boolean } {
  if (/nested deeper/.test(ours)) return { category: 'depth_limit', explained: true }; // the reference has none
  // The reference coerces undefined to null; the data model has no undefined.
  if (/simple value|undefined/.test(ours)) return { category: 'undefined', explained: true };
  if (/float/i.test(ours)) return { category: 'float', explained: true }; // data model: integers only; cborg reads floats of every width
  // The reference keeps a map {"$link": text} or {"$bytes": text} as a map; in lex-JSON it would read as a link or bytes.
  if (/JSON form/.test(ours)) return { category: 'json_form_map', explained: true };
  if (/safe|integer/i.test(ours)) return { category: 'big_integer', explained: true }; // reference allows BigInt
  if (/order/i.test(ours)) return { category: 'key_order', explained: true }; // DRISL: canonical key order; cborg strict does not check it
  if (/CID|link|multihash|codec/i.test(ours)) return { category: 'cid_form', explained: true }; // we require CIDv1 with a known codec and sha-256
  if (/utf-8/i.test(ours)) return { category: 'utf8', explained: true }; // reference's TextDecoder replaces bad UTF-8
  if (/shortest/i.test(ours)) return { category: 'non_minimal', explained: true };
  return { category: `other: ${ours.slice(0, 60)}`, explained: false };
}

const lexTarget = (records: Uint8Array[]): Target => ({
  name: 'lex_cbor',
  weight: 30,
  seeds: records.map((bytes) => ({ bytes })),
  run(input) {
    let ours: JsonValue | undefined;
    let oursError: string | undefined;
    try {
      ours = decodeLex(input);
    } catch (err) {
      if (!(err instanceof LexCborError)) return { kind: 'crash', error: String(err) };
      oursError = err.message;
    }
    // The reference has no depth limit: a 50,000-level nest costs it tens of milliseconds and megabytes (the cost
    // issue 13 is about), so past our limit it is not asked; the difference is explained as depth_limit.
    if (oursError !== undefined && /nested deeper/.test(oursError)) return { kind: 'disagreement', category: 'ours_rejects:depth_limit', explained: true, detail: oursError };
    let theirs: unknown;
    let theirsOk = true;
    try {
      theirs = refDecode(input);
    } catch {
      theirsOk = false;
    }
    if (oursError !== undefined) {
      if (!theirsOk) return { kind: 'rejected', reason: 'invalid_record' };
      const { category, explained } = lexCategory(oursError);
      return { kind: 'disagreement', category: `ours_rejects:${category}`, explained, detail: oursError };
    }
    if (!theirsOk) return { kind: 'disagreement', category: 'ours_accepts', explained: false, detail: Buffer.from(input.subarray(0, 64)).toString('hex') };
    // Both accept: the same value, seen through its canonical encoding.
    const mine = encodeCbor(lexToCbor(ours!));
    const ref = refEncode(theirs as never);
    if (Buffer.compare(Buffer.from(mine), Buffer.from(ref)) !== 0) return { kind: 'disagreement', category: 'different_value', explained: false, detail: Buffer.from(input.subarray(0, 64)).toString('hex') };
    return { kind: 'accepted' };
  },
});

// ---------- subscribeRepos frames ----------

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hello', createdAt: '2026-01-01T00:00:00.000Z' };

async function frameSeeds(): Promise<Seed[]> {
  const seeds: Seed[] = [];
  seeds.push({ bytes: (await buildCommitFrame({ seq: 1, did: DID, rev: '3l3qo2vuowo2b', ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: '3l3qo2vuowo2c', record: POST }, { action: 'delete', collection: 'app.bsky.feed.like', rkey: '3l3qo2vuowo2d' }] })).frame });
  seeds.push({ bytes: (await buildCommitFrame({ seq: 2, did: DID, rev: '3l3qo2vuowo2e', since: '3l3qo2vuowo2b', ops: [{ action: 'update', collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'A', raw: { $bytes: 'AQID' } } }] })).frame });
  seeds.push({ bytes: identityFrame(3, DID, 'alice.test') }, { bytes: accountFrame(4, DID, false, 'deactivated') }, { bytes: await syncFrame(5, DID, '3l3qo2vuowo2f') });
  // The four real #commit messages a relay sent (indigo testdata), framed as they came.
  for (const n of ['4621317030', '4621317332', '4621332152', '4623075231']) {
    const json = readJson<JsonObject>(`indigo/atproto/repo/testdata/firehose_commit_${n}.json`);
    if (json['blobs'] === null) json['blobs'] = [];
    seeds.push({ bytes: encodeFrame({ op: 1, t: '#commit' }, lexToCbor(json) as Record<string, unknown>) });
  }
  return seeds;
}

const frameTarget = (seeds: Seed[]): Target => ({
  name: 'repo_frame',
  weight: 25,
  seeds,
  async run(input) {
    try {
      const out = await decodeRepoFrame(input);
      switch (out.kind) {
        case 'invalid':
        case 'ignored':
          return checkReasons([out.reason]) ?? { kind: 'rejected', reason: out.reason };
        case 'sequenced':
          return checkReasons([...out.dropped.map((d) => d.reason), ...out.resync.map((r) => r.reason)]) ?? { kind: 'accepted' };
        default:
          return { kind: 'accepted' };
      }
    } catch (err) {
      return { kind: 'crash', error: `decodeRepoFrame threw: ${String(err)}` };
    }
  },
});

// ---------- commit verification with MST inversion ----------

/** A key with no signature to check: the fuzzer attacks the structure; signatures have their own conformance tests. */
const noKey: IdentityResolver = { resolve: async (did) => ({ did, signingKey: undefined as unknown as PublicKey, pds: 'https://pds.invalid' }) };

async function commitSeeds(): Promise<Seed[]> {
  const seeds: Seed[] = [];
  const keys = Array.from({ length: 40 }, (_, i) => `app.bsky.feed.post/3l3q${i.toString(36).padStart(3, 'a')}aaaa2`);
  for (let variant = 0; variant < 4; variant++) {
    const before = new Map<string, CID>();
    const after = new Map<string, CID>();
    const ops: CommitOp[] = [];
    const records: { cid: CID; bytes: Uint8Array }[] = [];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const old = await leafCid(`${key}#old`);
      const fate = (i * 7 + variant * 3) % 11;
      if (fate === 0) {
        const rec = await block(lexToCbor({ ...POST, text: `${key} new` }));
        after.set(key, rec.cid);
        records.push(rec);
        ops.push({ action: 'create', path: key, cid: link(rec.cid) });
      } else if (fate === 1) {
        before.set(key, old);
        ops.push({ action: 'delete', path: key, cid: null, prev: link(old) });
      } else if (fate === 2) {
        const rec = await block(lexToCbor({ ...POST, text: `${key} edit` }));
        before.set(key, old);
        after.set(key, rec.cid);
        records.push(rec);
        ops.push({ action: 'update', path: key, cid: link(rec.cid), prev: link(old) });
      } else {
        before.set(key, old);
        after.set(key, old);
      }
    }
    const built = await buildCase({ before, after, ops });
    const commit = await block({ did: COMMIT_DID, version: 3, data: built.rootAfter, rev: COMMIT_REV, prev: null, sig: new Uint8Array(64) });
    const blocks = [commit, ...[...built.covering].map((cid) => ({ cid: CID.parse(cid), bytes: built.nodes.get(cid)! })), ...records];
    const body = {
      seq: 10 + variant, rebase: false, tooBig: false, repo: COMMIT_DID, commit: commit.cid, rev: COMMIT_REV, since: null,
      blocks: encodeCar(commit.cid, blocks), blobs: [], time: '2026-01-01T00:00:00.000Z', prevData: built.rootBefore,
      ops: ops.map((op) => ({ action: op.action, path: op.path, cid: op.cid === null ? null : CID.decode(op.cid.bytes), ...(op.prev === undefined || op.prev === null ? {} : { prev: CID.decode(op.prev.bytes) }) })),
    };
    seeds.push({ bytes: encodeFrame({ op: 1, t: '#commit' }, body), expect: { data: built.rootAfter.toString(), cids: ops.map((op) => op.cid?.toString() ?? null) } });
  }
  return seeds;
}

type Expected = { data: string; cids: (string | null)[] };

/** The seeds' expectations by the MST root their commit signs. */
const byRoot = new WeakMap<Seed[], Map<string, Expected>>();
function seedsByRoot(seeds: Seed[]): Map<string, Expected> {
  let out = byRoot.get(seeds);
  if (out === undefined) {
    out = new Map(seeds.flatMap((s) => (s.expect === undefined ? [] : [[(s.expect as Expected).data, s.expect as Expected] as const])));
    byRoot.set(seeds, out);
  }
  return out;
}

const commitTarget = (seeds: Seed[]): Target => ({
  name: 'commit_verify',
  weight: 15,
  seeds,
  async run(input, seed) {
    try {
      const out = await decodeRepoFrame(input, { identity: noKey });
      if (out.kind === 'invalid' || out.kind === 'ignored') return checkReasons([out.reason]) ?? { kind: 'rejected', reason: out.reason };
      if (out.kind !== 'sequenced') return { kind: 'accepted' };
      const bad = checkReasons([...out.dropped.map((d) => d.reason), ...out.resync.map((r) => r.reason)]);
      if (bad !== undefined) return bad;
      if (out.t === '#commit' && out.resync.length === 0 && seed.expect !== undefined) {
        // Verified: the MST root and every record CID must be the ones the (unchanged) commit block signs. A splice
        // can carry another seed's whole signed commit (the seeds share a DID and a key): that one is judged against
        // what its own commit signs (fuzz seed 2063454243, case 150470, accepted another seed's root: no forgery).
        const e = seedsByRoot(seeds).get(out.state?.data ?? '') ?? (seed.expect as Expected);
        if (out.state?.data !== undefined && out.state.data !== e.data) return { kind: 'disagreement', category: 'forged_root_accepted', explained: false, detail: out.state.data };
        for (const ev of out.events) {
          if ((ev.type === 'create' || ev.type === 'update') && !e.cids.includes(ev.cid)) return { kind: 'disagreement', category: 'forged_record_accepted', explained: false, detail: ev.cid };
        }
      }
      return out.resync.length > 0 ? { kind: 'rejected', reason: out.resync[0]!.reason } : { kind: 'accepted' };
    } catch (err) {
      return { kind: 'crash', error: `decodeRepoFrame threw: ${String(err)}` };
    }
  },
});

// ---------- CAR reading, against @atproto/repo; and MST walking of whole repos ----------

/** A small repo signed here with a fresh secp256k1 key (the indigo exports are large or signed under old rules). */
async function signedRepo(records: number, seed: number): Promise<{ bytes: Uint8Array; did: string; key: PublicKey }> {
  const secret = new Uint8Array(32).fill(seed + 1);
  const did = `did:plc:fuzz${String(seed).padStart(20, 'a')}`;
  let tree = Mst.empty();
  const blocks: { cid: CID; bytes: Uint8Array }[] = [];
  for (let i = 0; i < records; i++) {
    const rec = await block(lexToCbor({ ...POST, text: `record ${i} of ${seed}` }));
    blocks.push(rec);
    tree = await tree.add(`app.bsky.feed.post/3l3q${i.toString(36).padStart(4, 'a')}aa2`, new CidLink(rec.cid.bytes));
  }
  const nodes = new Map<string, Uint8Array>();
  const data = await tree.rootCid(nodes);
  for (const [cid, bytes] of nodes) blocks.push({ cid: CID.parse(cid), bytes });
  const unsigned = { did, version: 3, data: CID.decode(data.bytes), rev: '3l3qo2vuowo2b', prev: null };
  const sig = secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
  const commit = await block({ ...unsigned, sig });
  return { bytes: encodeCar(commit.cid, [commit, ...blocks]), did, key: { curve: 'k256', bytes: secp256k1.getPublicKey(secret, true) } };
}

function carCategory(reason: string): { category: string; explained: boolean } {
  // On purpose: the reference reads blocks without hashing them (cid_mismatch), limits nothing (repo_too_large,
  // too_deep), reads the CAR header without DAG-CBOR's canonical key order (invalid_car: seen in the 1,000,000-case
  // run as `{roots, version}` swapped), and takes a last block cut short as the end of the file (truncated_car: we
  // never take a truncated CAR as a partial repo).
  if (['cid_mismatch', 'repo_too_large', 'too_deep', 'invalid_car', 'truncated_car'].includes(reason)) return { category: `ours_rejects:${reason}`, explained: true };
  return { category: `ours_rejects:${reason}`, explained: false };
}

const carTarget = (seeds: Seed[]): Target => ({
  name: 'car_read',
  weight: 3,
  seeds,
  async run(input) {
    // The firehose splitter (no hashing: its callers hash what they use) must be total up to its own errors.
    try {
      readCarBlocks(input);
    } catch (err) {
      if (!(err instanceof Error) || /Cannot read|undefined|is not a function/.test(err.message)) return { kind: 'crash', error: `readCarBlocks: ${String(err)}` };
    }
    let ours: Verdict;
    let oursMessage = '';
    try {
      await readRepoCar(oneChunk(input));
      ours = { kind: 'accepted' };
    } catch (err) {
      ours = reasonOf(err);
      oursMessage = err instanceof Error ? err.message : String(err);
    }
    if (ours.kind === 'crash') return ours;
    let theirsOk = true;
    try {
      await readCarWithRoot(input);
    } catch {
      theirsOk = false;
    }
    if (ours.kind === 'accepted' && !theirsOk) return { kind: 'disagreement', category: 'ours_accepts', explained: false, detail: Buffer.from(input.subarray(0, 48)).toString('hex') };
    if (ours.kind === 'rejected' && theirsOk) {
      const { category, explained } = carCategory(ours.reason);
      return { kind: 'disagreement', category, explained, detail: `${ours.reason}: ${oursMessage}` };
    }
    return ours;
  },
});

const mstTarget = (repos: { seed: Seed; did: string; key: PublicKey }[]): Target => ({
  name: 'mst_walk',
  weight: 3,
  seeds: repos.map((r) => r.seed),
  async run(input, seed) {
    const repo = repos.find((r) => r.seed === seed)!;
    try {
      const car = await readRepoCar(oneChunk(input));
      const verified = await verifyRepo(car, { did: repo.did, key: repo.key });
      const { records } = allRecords(verified);
      // Signed: an accepted mutation lists exactly the seed's records.
      const listed = records.map((r) => `${r.collection}/${r.rkey}@${r.cid}`).join('\n');
      return listed === seed.expect ? { kind: 'accepted' } : { kind: 'disagreement', category: 'forged_repo_accepted', explained: false, detail: listed.slice(0, 200) };
    } catch (err) {
      return reasonOf(err);
    }
  },
});

// ---------- subscribeLabels frames and labels ----------

const labelTarget = (): Target => {
  const fixture = readJson<{ ozoneDid: string; didDocument: unknown; frames: string[] }>('ozone/subscribe-labels.json');
  const ozone = parseDidDocument(fixture.ozoneDid, fixture.didDocument);
  const host = ozone.labeler === undefined ? undefined : new URL(ozone.labeler).host;
  return {
    name: 'label',
    weight: 15,
    seeds: fixture.frames.map((hex) => ({ bytes: new Uint8Array(Buffer.from(hex, 'hex')) })),
    run(input) {
      try {
        const out = decodeLabelFrame(input, host ?? 'labeler.invalid');
        if (out.kind === 'invalid' || out.kind === 'ignored') return checkReasons([out.reason]) ?? { kind: 'rejected', reason: out.reason };
        if (out.kind !== 'labels') return { kind: 'accepted' };
        const bad = checkReasons(out.dropped.map((d) => d.reason));
        if (bad !== undefined) return bad;
        for (const entry of out.entries) {
          const item = parseLabelItem(entry);
          if (!item.ok) return { kind: 'rejected', reason: 'invalid_event' };
          for (const raw of item.value.labels) {
            const parsed = parseLabel(raw);
            // checkLabel (the label function's path) turns an unsigned label away before any key is looked at.
            if (!parsed.ok || parsed.label.sig === undefined) continue;
            const problem = problemWith(ozone, parsed.label, host, false);
            if (problem !== undefined && !isReason(problem.reason)) return { kind: 'crash', error: `label reason outside the closed set: ${problem.reason}` };
          }
        }
        return { kind: 'accepted' };
      } catch (err) {
        return { kind: 'crash', error: `label path threw: ${String(err)}` };
      }
    },
  };
};

// ---------- HTTP routes ----------

const refusing: Sql = {
  query: async () => {
    throw new Error('fuzz: no database');
  },
  transaction: async () => {
    throw new Error('fuzz: no database');
  },
};

const HTTP_ROUTES = ['/functions/index', '/functions/label'];

const httpTarget = (): Target => {
  const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
  const app: Hono = createApp({
    auth: { dev: false, token: 'fuzz' },
    bodyLimitBytes: 64 * 1024,
    ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: refusing },
    metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
    readiness: [],
  });
  const event = { type: 'create', seq: 1, time: '2026-01-01T00:00:00.000Z', did: DID, commit: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454', rev: '3l3qo2vuowo2b', since: null, collection: 'app.bsky.feed.post', rkey: '3l3qo2vuowo2c', cid: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454', record: POST };
  const bodies = [
    { events: [event, { type: 'delete', seq: 2, time: event.time, did: DID, commit: event.commit, rev: event.rev, since: null, collection: 'app.bsky.feed.like', rkey: 'x' }] },
    { events: [{ type: 'identity', seq: 3, time: event.time, did: DID, handle: 'alice.test' }, { type: 'account', seq: 4, time: event.time, did: DID, active: true }] },
    { events: [{ type: 'label', host: 'labeler.test', label: { ver: 1, src: DID, uri: `at://${DID}`, val: 'spam', cts: event.time, sig: { $bytes: 'AQID' } } }] },
    { events: [] },
  ];
  const statuses = new Set([200, 400, 413, 500, 503]);
  return {
    name: 'http',
    weight: 5,
    seeds: bodies.map((b) => ({ bytes: new TextEncoder().encode(JSON.stringify(b)) })),
    async run(input, seed) {
      const route = HTTP_ROUTES[seed.bytes.length % 2]!;
      try {
        const res = await app.request(route, { method: 'POST', body: new Uint8Array(input) as Uint8Array<ArrayBuffer>, headers: { authorization: 'Bearer fuzz', 'content-type': 'application/json' } });
        await res.arrayBuffer();
        if (!statuses.has(res.status)) return { kind: 'crash', error: `${route} answered ${res.status}` };
        return res.status === 200 ? { kind: 'accepted' } : { kind: 'rejected', reason: `http_${res.status}` };
      } catch (err) {
        return { kind: 'crash', error: `${route} threw: ${String(err)}` };
      }
    },
  };
};

export async function buildTargets(): Promise<Target[]> {
  const frames = await frameSeeds();
  const commits = await commitSeeds();
  const records = [read('indigo/testing/testdata/feedpost_record.cbor'), read('indigo/testing/testdata/post_richtext_link.cbor'), ...generatedRecords(200, 13)];
  const repos = await Promise.all(
    [[12, 1], [60, 2]].map(async ([n, s]) => {
      const { bytes, did, key } = await signedRepo(n!, s!);
      const verified = await verifyRepo(await readRepoCar(oneChunk(bytes)), { did, key });
      const expect = allRecords(verified).records.map((rec) => `${rec.collection}/${rec.rkey}@${rec.cid}`).join('\n');
      return { seed: { bytes, expect }, did, key };
    }),
  );
  const carSeeds = [
    ...repos.map((r) => ({ bytes: r.seed.bytes })),
    { bytes: read('indigo/testing/testdata/greenground.repo.car') },
    { bytes: read('indigo/testing/testdata/repo_slice.car') },
  ];
  return [lexTarget(records), frameTarget(frames), commitTarget(commits), carTarget(carSeeds), mstTarget(repos), labelTarget(), httpTarget()];
}
