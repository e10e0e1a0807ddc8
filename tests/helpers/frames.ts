// Builders of real subscribeRepos frames for tests: DAG-CBOR header + body, commits whose `blocks` is a real CAR with
// the commit block first and record blocks whose CIDs are their sha-256, as a PDS sends them.
import { CID } from 'multiformats/cid';
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { cidForCbor } from '../../functions/atproto/cid.ts';
import { lexToCbor } from '../../functions/atproto/lex-json.ts';
import type { JsonObject } from '../../functions/events.ts';
import type { Keypair } from '@atproto/crypto';
import { CidLink } from '../../functions/atproto/cid-link.ts';
import { Mst } from '../../functions/atproto/mst/mst.ts';

/** A v3 commit block, signed by `key` (a real signature over the unsigned commit), else with a zero signature. */
async function commitBlock(fields: { did: string; data: CID; rev: string }, key?: Keypair) {
  const unsigned = { did: fields.did, version: 3, data: fields.data, rev: fields.rev, prev: null };
  return block({ ...unsigned, sig: key === undefined ? new Uint8Array(64) : await key.sign(encodeCbor(unsigned)) });
}

export function encodeFrame(header: Record<string, unknown>, body: Record<string, unknown>): Uint8Array {
  const h = encodeCbor(header);
  const b = encodeCbor(body);
  const out = new Uint8Array(h.length + b.length);
  out.set(h, 0);
  out.set(b, h.length);
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** A CARv1 with one root and the given blocks, in order. */
export function encodeCar(root: CID, blocks: { cid: CID; bytes: Uint8Array }[]): Uint8Array {
  const header = encodeCbor({ version: 1, roots: [root] });
  const chunks: Uint8Array[] = [new Uint8Array(varint(header.length)), header];
  for (const b of blocks) {
    chunks.push(new Uint8Array(varint(b.cid.bytes.length + b.bytes.length)), b.cid.bytes, b.bytes);
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

export async function block(value: unknown): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = encodeCbor(value);
  return { cid: await cidForCbor(bytes), bytes };
}

export interface OpSpec {
  action: 'create' | 'update' | 'delete';
  collection: string;
  rkey: string;
  record?: JsonObject;
  /** The record block's bytes as given, for a record lex-JSON cannot express (a float, a map shaped like a link). */
  recordBytes?: Uint8Array;
}

export interface CommitSpec {
  seq: number;
  did: string;
  rev: string;
  since?: string | null;
  time?: string;
  ops: OpSpec[];
  /** Leave these paths' record blocks out of the CAR (as a truncated or tooBig commit would). */
  omitBlocks?: string[];
  tooBig?: boolean;
  /** The previous MST root the commit claims to follow (sync 1.1). */
  prevData?: CID;
  /** Sign the commit with this key (else a zero signature, for tests that do not verify). */
  sign?: Keypair;
}

export interface BuiltCommit {
  frame: Uint8Array;
  /** The MST root in the commit (the next commit's prevData). */
  dataCid: CID;
  commitCid: string;
  recordCids: Record<string, string>;
}

export async function buildCommitFrame(spec: CommitSpec): Promise<BuiltCommit> {
  const records: { cid: CID; bytes: Uint8Array }[] = [];
  const ops: Record<string, unknown>[] = [];
  const recordCids: Record<string, string> = {};
  for (const op of spec.ops) {
    const path = `${op.collection}/${op.rkey}`;
    if (op.action === 'delete') {
      ops.push({ action: 'delete', path, cid: null });
      continue;
    }
    const b = op.recordBytes === undefined ? await block(lexToCbor(op.record ?? { $type: op.collection })) : { cid: await cidForCbor(op.recordBytes), bytes: op.recordBytes };
    recordCids[path] = b.cid.toString();
    if (!(spec.omitBlocks ?? []).includes(path)) records.push(b);
    ops.push({ action: op.action, path, cid: b.cid });
  }
  // Unsigned commits name the empty tree (checks that would look at it are off); a signed one is meant to pass them,
  // so it names a real MST holding its creates and updates (as a repo holding only them would).
  const nodes: { cid: CID; bytes: Uint8Array }[] = [];
  let mstRoot: CID;
  if (spec.sign === undefined) {
    const empty = await block({ l: null, e: [] });
    nodes.push(empty);
    mstRoot = empty.cid;
  } else {
    let tree = Mst.empty();
    for (const op of spec.ops) if (op.action !== 'delete') tree = await tree.add(`${op.collection}/${op.rkey}`, new CidLink(CID.parse(recordCids[`${op.collection}/${op.rkey}`]!).bytes));
    const encoded = new Map<string, Uint8Array>();
    mstRoot = CID.parse((await tree.rootCid(encoded)).toString());
    for (const [cid, bytes] of encoded) nodes.push({ cid: CID.parse(cid), bytes });
  }
  const commit = await commitBlock({ did: spec.did, data: mstRoot, rev: spec.rev }, spec.sign);
  const car = encodeCar(commit.cid, [commit, ...nodes, ...records]);
  const body = {
    seq: spec.seq, rebase: false, tooBig: spec.tooBig ?? false, repo: spec.did, commit: commit.cid, rev: spec.rev,
    since: spec.since ?? null, blocks: car, ops, blobs: [], time: spec.time ?? '2026-01-01T00:00:00.000Z',
    ...(spec.prevData === undefined ? {} : { prevData: spec.prevData }),
  };
  return { frame: encodeFrame({ op: 1, t: '#commit' }, body), commitCid: commit.cid.toString(), recordCids, dataCid: mstRoot };
}

export const identityFrame = (seq: number, did: string, handle?: string, time = '2026-01-01T00:00:00.000Z') =>
  encodeFrame({ op: 1, t: '#identity' }, handle === undefined ? { seq, did, time } : { seq, did, time, handle });

export const accountFrame = (seq: number, did: string, active: boolean, status?: string, time = '2026-01-01T00:00:00.000Z') =>
  encodeFrame({ op: 1, t: '#account' }, status === undefined ? { seq, did, time, active } : { seq, did, time, active, status });

/**
 * A #sync whose commit names the empty tree (or `o.data`); `o.sign` signs its commit block, `o.signedRev` puts
 * another rev in the signed block than in the body.
 */
export async function syncFrame(seq: number, did: string, rev: string, o: { sign?: Keypair; signedRev?: string; data?: CID } = {}): Promise<Uint8Array> {
  const commit = await commitBlock({ did, data: o.data ?? (await block({ l: null, e: [] })).cid, rev: o.signedRev ?? rev }, o.sign);
  return encodeFrame({ op: 1, t: '#sync' }, { seq, did, rev, blocks: encodeCar(commit.cid, [commit]), time: '2026-01-01T00:00:00.000Z' });
}

export const infoFrame = (name: string, message?: string) =>
  encodeFrame({ op: 1, t: '#info' }, message === undefined ? { name } : { name, message });

export const errorFrame = (error: string, message?: string) =>
  encodeFrame({ op: -1 }, message === undefined ? { error } : { error, message });
