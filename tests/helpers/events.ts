// Builders of stream events for tests: valid identifiers, deterministic revs and CIDs, records in lex-JSON.
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import { create as createDigest } from 'multiformats/hashes/digest';
import type { AccountEvent, IdentityEvent, JsonObject, RecordDeleteEvent, RecordWriteEvent } from '../../functions/events.ts';

const S32 = '234567abcdefghijklmnopqrstuvwxyz';

/** A valid TID whose order follows `n` (13 base32-sortable characters). */
export function tid(n: number): string {
  let out = '';
  let v = BigInt(n);
  for (let i = 0; i < 13; i++) {
    out = S32[Number(v % 32n)] + out;
    v /= 32n;
  }
  return out;
}

/** A real CID (CIDv1, dag-cbor, sha2-256) unique to `seed`: records' strong refs must hold CIDs their lexicon accepts. */
export function fakeCid(seed: string): string {
  return cidOf(0x71, seed);
}

/** A real blob CID (CIDv1, raw, sha2-256) unique to `seed`: the lexicon takes a blob only with a raw CID. */
export function fakeBlobCid(seed: string): string {
  return cidOf(0x55, seed);
}

function cidOf(codec: number, seed: string): string {
  return CID.createV1(codec, createDigest(0x12, createHash('sha256').update(seed).digest())).toString();
}

export const T0 = Date.parse('2026-01-01T00:00:00.000Z');
export const at = (n: number) => new Date(T0 + n * 1000).toISOString();

interface WriteOpts {
  did: string;
  collection: string;
  rkey: string;
  rev: number;
  record: JsonObject;
  type?: 'create' | 'update';
  seq?: number;
  cid?: string;
}

export function write(o: WriteOpts): RecordWriteEvent {
  const cid = o.cid ?? fakeCid(`${o.did}/${o.collection}/${o.rkey}@${o.rev}:${JSON.stringify(o.record)}`);
  return {
    type: o.type ?? 'create', seq: o.seq ?? o.rev, time: at(o.rev), did: o.did, commit: fakeCid(`commit:${o.did}:${o.rev}`),
    rev: tid(o.rev), collection: o.collection, rkey: o.rkey, cid, record: o.record,
  };
}

export function del(o: { did: string; collection: string; rkey: string; rev: number; seq?: number }): RecordDeleteEvent {
  return {
    type: 'delete', seq: o.seq ?? o.rev, time: at(o.rev), did: o.did, commit: fakeCid(`commit:${o.did}:${o.rev}`),
    rev: tid(o.rev), collection: o.collection, rkey: o.rkey,
  };
}

export function identity(did: string, handle: string | undefined, seq: number): IdentityEvent {
  return handle === undefined ? { type: 'identity', seq, time: at(seq), did } : { type: 'identity', seq, time: at(seq), did, handle };
}

export function account(did: string, active: boolean, status: string | undefined, seq: number): AccountEvent {
  return status === undefined ? { type: 'account', seq, time: at(seq), did, active } : { type: 'account', seq, time: at(seq), did, active, status };
}

export const uriOf = (did: string, collection: string, rkey: string) => `at://${did}/${collection}/${rkey}`;

export const post = (text: string, extra: JsonObject = {}): JsonObject => ({
  $type: 'app.bsky.feed.post', text, createdAt: '2026-01-01T00:00:00.000Z', ...extra,
});
export const like = (uri: string, cid: string): JsonObject => ({
  $type: 'app.bsky.feed.like', subject: { uri, cid }, createdAt: '2026-01-01T00:00:00.000Z',
});
export const repost = (uri: string, cid: string): JsonObject => ({
  $type: 'app.bsky.feed.repost', subject: { uri, cid }, createdAt: '2026-01-01T00:00:00.000Z',
});
export const follow = (subject: string): JsonObject => ({ $type: 'app.bsky.graph.follow', subject, createdAt: '2026-01-01T00:00:00.000Z' });
export const block = (subject: string): JsonObject => ({ $type: 'app.bsky.graph.block', subject, createdAt: '2026-01-01T00:00:00.000Z' });
export const profile = (displayName: string, extra: JsonObject = {}): JsonObject => ({ $type: 'app.bsky.actor.profile', displayName, ...extra });
