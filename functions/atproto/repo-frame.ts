// subscribeRepos frames -> stream events (the `firehose_live` contract, README.md "Contracts"). Pure and total: every
// input becomes a RepoFrameOutcome, never an exception. Only record ops and identity/account changes become events;
// a commit that cannot be fully emitted (a missing record block, tooBig) asks for a resync of its repo rather than
// dropping it.
// A commit or #sync whose DID's identity cannot be learned now (an outage, or its did:web host down) is `deferred`,
// never judged: the caller keeps it until the identity can be learned.
// `decodeRepoMessage` takes a message already framed (the subscription core frames every stream the same way);
// `decodeRepoFrame` takes the bytes.
import type { AccountEvent, IdentityEvent, JsonObject, StreamEvent } from '../events.ts';
import type { Reason } from '../reasons.ts';
import type { ResyncRequest } from '../result.ts';
import type { IdentityWait, RepoFrameOutcome } from './repo-frame-types.ts';
import { decodeCborFast as decodeCbor } from './fast-cbor.ts';
import { cidBytesMatchFast } from './cid.ts';
import { CidLink } from './cid-link.ts';
import { readCarBlocks, type CarBlocks } from './car.ts';
import { verifyCommit, type CommitOp, type CommitToVerify } from './commit/verify-commit.ts';
import { DidHostUnavailableError, IdentityPendingError, type IdentityResolver } from './identity/did-document.ts';
import { dependencyErrorIn, SkytideError } from '../errors.ts';
import { messageSeq, openFrame } from './frame.ts';
import { decodeLex, LexCborError } from './lex-cbor.ts';
import { MAX_COMMIT_BLOCKS_BYTES, MAX_COMMIT_OPS, MAX_COMMIT_RECORD_BYTES, MAX_DID_LENGTH, MAX_HANDLE_LENGTH, MAX_RECORD_BYTES, MAX_SYNC_BLOCKS_BYTES } from './limits.ts';
import { isValidDatetime } from './syntax/datetime.ts';
import { isValidDid } from './syntax/did.ts';
import { isValidHandle } from './syntax/handle.ts';
import { isValidNsid } from './syntax/nsid.ts';
import { isValidRecordKey } from './syntax/record-key.ts';
import { isValidTid } from './syntax/tid.ts';

type Body = Record<string, unknown>;

/** A known message whose body is unusable: caught below and turned into an `invalid` outcome with its reason. */
class InvalidBody extends SkytideError {
  constructor(reason: Reason, message: string) {
    super(reason, message);
    this.name = 'InvalidBody';
  }
}

function did(body: Body, key: string): string {
  const v = body[key];
  if (typeof v === 'string' && v.length > MAX_DID_LENGTH) throw new InvalidBody('field_too_long', `${key} is ${v.length} characters, over ${MAX_DID_LENGTH}`);
  if (typeof v !== 'string' || !isValidDid(v)) throw new InvalidBody('invalid_syntax', `${key} is not a valid DID`);
  return v;
}

/** A field the message's lexicon requires (or types) that is absent or of the wrong type: refused before any work. */
function mismatch(t: string, message: string): InvalidBody {
  return new InvalidBody('lexicon_mismatch', `${t} ${message}`);
}

/**
 * com.atproto.sync.subscribeRepos#commit, checked at the edge before the CAR is read or anything verified: `rebase`
 * and `tooBig` booleans, `blobs` an array of links, `since` a TID or null, `prevData` a link when present, and ops
 * within MAX_COMMIT_OPS. (repo, commit, rev, time, ops and blocks are checked where they are read.)
 */
function checkCommitLexicon(body: Body): void {
  if (typeof body['rebase'] !== 'boolean') throw mismatch('#commit', 'without a boolean `rebase`');
  if (typeof body['tooBig'] !== 'boolean') throw mismatch('#commit', 'without a boolean `tooBig`');
  const blobs = body['blobs'];
  // NOTE: null is taken as no blobs: Go producers hold an empty list as nil (indigo's captured commits show
  // `"blobs": null`); absent or any other type is refused.
  if (!Array.isArray(blobs) && blobs !== null) throw mismatch('#commit', 'without a `blobs` array');
  for (const blob of blobs ?? []) if (!(blob instanceof CidLink)) throw mismatch('#commit', '`blobs` holds something other than a link');
  const since = body['since'];
  if (since !== null && (typeof since !== 'string' || !isValidTid(since))) throw mismatch('#commit', '`since` is neither a TID nor null');
  if ('prevData' in body && body['prevData'] !== undefined && !(body['prevData'] instanceof CidLink)) throw mismatch('#commit', '`prevData` is not a link');
  const ops = body['ops'];
  if (!Array.isArray(ops)) throw new InvalidBody('invalid_commit', 'ops is not an array');
  if (ops.length > MAX_COMMIT_OPS) throw new InvalidBody('too_many_ops', `${ops.length} ops, over the ${MAX_COMMIT_OPS} limit`);
}

const CANONICAL_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** In the canonical form toISOString prints, and a real instant (no Feb 30, no hour 24). */
function isCanonicalInstant(v: string): boolean {
  if (!CANONICAL_TIME.test(v)) return false;
  const n = (at: number) => (v.charCodeAt(at) - 48) * 10 + (v.charCodeAt(at + 1) - 48);
  const year = n(0) * 100 + n(2);
  const month = n(5);
  const day = n(8);
  if (month < 1 || month > 12 || day < 1 || n(11) > 23 || n(14) > 59 || n(17) > 59) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && !leap ? 28 : DAYS_IN_MONTH[month - 1]!);
}

function time(body: Body): string {
  const v = body['time'];
  if (typeof v === 'string') {
    // Fast path for what relays send: already canonical. NOTE: checked by hand, not by a Date round trip, which was
    // a tenth of decoding a one-op frame (npm run bench, decode).
    if (isCanonicalInstant(v)) return v;
    if (isValidDatetime(v)) return new Date(Date.parse(v)).toISOString();
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  throw new InvalidBody('invalid_syntax', 'time is not a datetime');
}

function tid(body: Body, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || !isValidTid(v)) throw new InvalidBody('invalid_syntax', `${key} is not a TID`);
  return v;
}

function bytes(body: Body, key: string, max: number): Uint8Array {
  const v = body[key];
  if (!(v instanceof Uint8Array)) throw new InvalidBody('invalid_commit', `${key} is not bytes`);
  if (v.length > max) throw new InvalidBody('block_too_big', `${key} is ${v.length} bytes, over the ${max} byte limit`);
  return v;
}

function cid(body: Body, key: string): CidLink {
  const v = CidLink.from(body[key]);
  if (v === undefined) throw new InvalidBody('invalid_commit', `${key} is not a CID link`);
  return v;
}

interface Dropped {
  reason: Reason;
  count: number;
}

function bump(dropped: Dropped[], reason: Reason): void {
  const entry = dropped.find((d) => d.reason === reason);
  if (entry === undefined) dropped.push({ reason, count: 1 });
  else entry.count++;
}

export interface DecodeOptions {
  /**
   * Resolves a repo's signing key for the sync 1.1 checks (verify-commit.ts). Absent: the checks are not run (tests
   * of framing, or a deployment that trusts a verifying upstream: counted by the caller).
   */
  identity?: IdentityResolver;
}

/**
 * What an identity failure means for the commit: a wait (a dependency's outage, or the DID's own did:web host not
 * answering, or a resolver failing in a way that says nothing about the DID), or undefined for a verdict.
 */
function identityWait(err: unknown): IdentityWait | undefined {
  if (err instanceof IdentityPendingError) return 'lookup';
  const outage = dependencyErrorIn(err);
  if (outage !== undefined) return outage.dependency;
  if (err instanceof DidHostUnavailableError) return 'did';
  if (err instanceof SkytideError) return err.reason === 'fetch_failed' ? 'did' : undefined;
  return 'did';
}

type CommitCheck = undefined | { problem: Reason } | { waitOn: IdentityWait; message: string };

/**
 * Verifies a signed commit against its repo's signing key, looking the key up once more if the signature fails (it
 * may have rotated). Identity failures are told apart from verification failures: only the latter are verdicts.
 * Without `identity` only the commit's own checks run (block hashes, the signed DID and rev against the message's).
 */
async function verifySigned(commit: CommitToVerify, identity: IdentityResolver | undefined): Promise<CommitCheck> {
  const repo = commit.repo;
  const signingKey = async (resolver: IdentityResolver, forceRefresh: boolean) => {
    try {
      return { key: (await resolver.resolve(repo, forceRefresh ? { forceRefresh } : undefined)).signingKey };
    } catch (err) {
      const waitOn = identityWait(err);
      if (waitOn !== undefined) return { waitOn, message: err instanceof Error ? err.message : String(err) };
      return { problem: err instanceof SkytideError ? err.reason : 'identity_failed' };
    }
  };
  try {
    if (identity === undefined) {
      await verifyCommit(commit, undefined);
      return undefined;
    }
    let key = await signingKey(identity, false);
    if (!('key' in key)) return key;
    try {
      await verifyCommit(commit, key.key);
    } catch (err) {
      if (!(err instanceof SkytideError) || err.reason !== 'bad_signature') throw err;
      key = await signingKey(identity, true);
      if (!('key' in key)) return key;
      await verifyCommit(commit, key.key);
    }
    return undefined;
  } catch (err) {
    return { problem: err instanceof SkytideError ? err.reason : 'invalid_commit' };
  }
}

/** Runs the sync 1.1 checks; a failure drops the commit's events and asks for a resync with the reason. */
async function checkCommit(body: Body, repo: string, rev: string, car: CarBlocks, identity: IdentityResolver): Promise<CommitCheck> {
  const ops: CommitOp[] = [];
  for (const raw of body['ops'] as unknown[]) {
    const op = (typeof raw === 'object' && raw !== null ? raw : {}) as Body;
    const action = op['action'];
    if (action !== 'create' && action !== 'update' && action !== 'delete') return { problem: 'invalid_commit' };
    ops.push({ action, path: String(op['path']), cid: CidLink.from(op['cid']) ?? null, prev: CidLink.from(op['prev']) ?? null });
  }
  return verifySigned({ repo, rev, commit: cid(body, 'commit'), roots: car.roots, blocks: car.blocks, ops, prevData: CidLink.from(body['prevData']) ?? null }, identity);
}

async function decodeCommit(seq: number, body: Body, options: DecodeOptions): Promise<RepoFrameOutcome> {
  const repo = did(body, 'repo');
  const commit = cid(body, 'commit').toString();
  const rev = tid(body, 'rev');
  checkCommitLexicon(body);
  const since = body['since'];
  const sinceValue = typeof since === 'string' ? since : null;
  const when = time(body);
  const ops = body['ops'] as unknown[];
  const events: StreamEvent[] = [];
  const resync: ResyncRequest[] = [];
  const dropped: Dropped[] = [];
  const blocks = bytes(body, 'blocks', MAX_COMMIT_BLOCKS_BYTES);
  if (body['tooBig'] === true) return decodeTooBig(seq, body, repo, rev, blocks, options);
  let car: CarBlocks;
  try {
    car = readCarBlocks(blocks);
  } catch (err) {
    throw new InvalidBody('invalid_car', `blocks are not a CAR: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (options.identity !== undefined) {
    const check = await checkCommit(body, repo, rev, car, options.identity);
    if (check !== undefined && 'waitOn' in check) return { kind: 'deferred', t: '#commit', seq, did: repo, waitOn: check.waitOn, message: check.message };
    if (check !== undefined) {
      resync.push({ did: repo, reason: check.problem });
      return { kind: 'sequenced', t: '#commit', seq, did: repo, events, resync, dropped: [{ reason: check.problem, count: Math.max(ops.length, 1) }] };
    }
  }
  const base = { seq, time: when, did: repo, commit, rev, since: sinceValue };
  const state = commitState(car, body, rev, sinceValue);
  let recordBytes = 0;
  for (const raw of ops) {
    const op = (typeof raw === 'object' && raw !== null ? raw : {}) as Body;
    const path = typeof op['path'] === 'string' ? op['path'] : '';
    const slash = path.indexOf('/');
    const collection = path.slice(0, slash);
    const rkey = path.slice(slash + 1);
    if (slash < 0 || !isValidNsid(collection) || !isValidRecordKey(rkey)) {
      bump(dropped, 'invalid_syntax');
      continue;
    }
    const action = op['action'];
    if (action === 'delete') {
      events.push({ type: 'delete', ...base, collection, rkey });
      continue;
    }
    if (action !== 'create' && action !== 'update') {
      bump(dropped, 'invalid_commit');
      continue;
    }
    const opCid = CidLink.from(op['cid']);
    if (opCid === undefined) {
      bump(dropped, 'invalid_commit');
      continue;
    }
    const block = car.blocks.get(opCid.bytes);
    if (block === undefined) {
      bump(dropped, 'missing_block');
      if (!resync.some((r) => r.reason === 'missing_block')) resync.push({ did: repo, reason: 'missing_block' });
      continue;
    }
    if (block.length > MAX_RECORD_BYTES) {
      bump(dropped, 'record_too_big');
      continue;
    }
    // One block named by many ops is decoded, and written, once per op: past MAX_COMMIT_RECORD_BYTES in all the rest
    // are dropped and the repo fetched whole, where its own bounds apply (mst/walk.ts).
    recordBytes += block.length;
    if (recordBytes > MAX_COMMIT_RECORD_BYTES) {
      bump(dropped, 'record_too_big');
      if (!resync.some((r) => r.reason === 'too_big')) resync.push({ did: repo, reason: 'too_big' });
      continue;
    }
    const match = cidBytesMatchFast(opCid.bytes, block);
    if (!(typeof match === 'boolean' ? match : await match)) {
      bump(dropped, 'cid_mismatch');
      if (!resync.some((r) => r.reason === 'cid_mismatch')) resync.push({ did: repo, reason: 'cid_mismatch' });
      continue;
    }
    let record: ReturnType<typeof decodeLex>;
    try {
      record = decodeLex(block);
    } catch (err) {
      bump(dropped, err instanceof LexCborError ? err.reason : 'invalid_record');
      continue;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      bump(dropped, 'invalid_record');
      continue;
    }
    events.push({ type: action, ...base, collection, rkey, cid: opCid.toString(), record: record as JsonObject });
  }
  return { kind: 'sequenced', t: '#commit', seq, did: repo, events, resync, dropped, state };
}

/**
 * A tooBig commit (deprecated, sync 1.1): its ops are not all in its blocks, so the repo is fetched whole. Its signed
 * commit block is still checked as a #sync's is (indigo's relay verifies it "even in lenient/legacy mode"), and once
 * it verifies it moves the repo's state like any commit: a replay of it (a stale rev) queues nothing, and the commit
 * after it chains on it instead of reading as a prevData and since gap (a second resync). Its own prevData and since
 * are not compared: the resync it asks for mends any gap before it. A tooBig commit whose blocks hold no commit (as
 * producers before sync 1.1 could send) still only queues the resync.
 */
async function decodeTooBig(seq: number, body: Body, repo: string, rev: string, blocks: Uint8Array, options: DecodeOptions): Promise<RepoFrameOutcome> {
  const ops = body['ops'] as unknown[];
  const tooBig = (state?: SequencedState): RepoFrameOutcome => ({
    kind: 'sequenced', t: '#commit', seq, did: repo, events: [], resync: [{ did: repo, reason: 'too_big' }],
    dropped: [{ reason: 'too_big', count: ops.length }], ...(state === undefined ? {} : { state }),
  });
  let car: CarBlocks;
  try {
    car = readCarBlocks(blocks);
  } catch {
    return tooBig();
  }
  const commit = cid(body, 'commit');
  if (car.blocks.get(commit.bytes) === undefined) return tooBig();
  const check = await verifySigned({ repo, rev, commit, roots: car.roots, blocks: car.blocks, ops: [], prevData: null }, options.identity);
  if (check !== undefined && 'waitOn' in check) return { kind: 'deferred', t: '#commit', seq, did: repo, waitOn: check.waitOn, message: check.message };
  if (check !== undefined) {
    return { kind: 'sequenced', t: '#commit', seq, did: repo, events: [], resync: [{ did: repo, reason: check.problem }], dropped: [{ reason: check.problem, count: Math.max(ops.length, 1) }] };
  }
  return tooBig({ ...commitState(car, body, rev, null), prevData: null });
}

/** The rev and MST root the commit moves the repo to, and what it claims to follow (since, prevData). */
type SequencedState = NonNullable<Extract<RepoFrameOutcome, { kind: 'sequenced' }>['state']>;

function commitState(car: CarBlocks, body: Body, rev: string, since: string | null): SequencedState {
  const prevData = CidLink.from(body['prevData']);
  const state: { rev: string; data?: string; since: string | null; prevData: string | null } = { rev, since, prevData: prevData?.toString() ?? null };
  const root = car.roots[0];
  const bytes = root === undefined ? undefined : car.blocks.get(root.bytes);
  if (bytes !== undefined) {
    try {
      const data = (decodeCbor(bytes) as { data?: unknown }).data;
      if (data instanceof CidLink) state.data = data.toString();
    } catch {
      // An undecodable commit block leaves the state without a root; verification, when on, already rejected it.
    }
  }
  return state;
}

/**
 * An #identity says the DID's identity changed, which the index must act on whatever else the message holds; its
 * `handle` is only the upstream's hint (the index verifies the handle from the DID document). A handle that breaks
 * the handle syntax (or is too long, or not a string) is left out of the event and counted (invalid_handle), never
 * passed on.
 */
function decodeIdentity(seq: number, body: Body): RepoFrameOutcome {
  const event: IdentityEvent = { type: 'identity', seq, time: time(body), did: did(body, 'did') };
  const dropped: Dropped[] = [];
  const handle = body['handle'];
  // Not a string, over the length limit or not a handle: the same hint gone bad, so the same answer; dropping the
  // whole message would lose the identity change it announces.
  if (typeof handle === 'string' && handle.length > 0 && handle.length <= MAX_HANDLE_LENGTH && isValidHandle(handle)) event.handle = handle;
  else if (handle !== undefined && handle !== null && handle !== '') bump(dropped, 'invalid_handle');
  return { kind: 'sequenced', t: '#identity', seq, did: event.did, events: [event], resync: [], dropped };
}

function decodeAccount(seq: number, body: Body): RepoFrameOutcome {
  const active = body['active'];
  if (typeof active !== 'boolean') throw new InvalidBody('invalid_event', 'active is not a boolean');
  const event: AccountEvent = { type: 'account', seq, time: time(body), did: did(body, 'did'), active };
  // Unknown future statuses are kept as strings: a status is data, never a reason to reject the event.
  const status = body['status'];
  if (status !== undefined && status !== null && typeof status !== 'string') throw mismatch('#account', '`status` is not a string');
  if (typeof status === 'string' && status.length > 0) event.status = status.toLowerCase();
  return { kind: 'sequenced', t: '#account', seq, did: event.did, events: [event], resync: [], dropped: [] };
}

/**
 * A #sync's `did` and `rev` are unsigned: they count only once the signed commit block in `blocks` agrees with them
 * and its signature verifies (sync spec, message validation), as for a #commit. Otherwise the #sync is refused (no
 * state moves) and, like a refused commit, its repo is queued with the reason; an identity it cannot learn now defers
 * it like a commit.
 */
async function decodeSync(seq: number, body: Body, options: DecodeOptions): Promise<RepoFrameOutcome> {
  const repo = did(body, 'did');
  const blocks = bytes(body, 'blocks', MAX_SYNC_BLOCKS_BYTES);
  const rev = tid(body, 'rev');
  time(body);
  let car: CarBlocks;
  try {
    car = readCarBlocks(blocks);
  } catch (err) {
    throw new InvalidBody('invalid_car', `blocks are not a CAR: ${err instanceof Error ? err.message : String(err)}`);
  }
  const root = car.roots[0];
  if (root === undefined) throw new InvalidBody('invalid_commit', 'the CAR has no root commit');
  const check = await verifySigned({ repo, rev, commit: root, roots: car.roots, blocks: car.blocks, ops: [], prevData: null }, options.identity);
  if (check !== undefined && 'waitOn' in check) return { kind: 'deferred', t: '#sync', seq, did: repo, waitOn: check.waitOn, message: check.message };
  if (check !== undefined) {
    return { kind: 'sequenced', t: '#sync', seq, did: repo, events: [], resync: [{ did: repo, reason: check.problem }], dropped: [{ reason: check.problem, count: 1 }] };
  }
  const { since: _since, prevData: _prevData, ...state } = commitState(car, body, rev, null);
  return { kind: 'sequenced', t: '#sync', seq, did: repo, events: [], resync: [{ did: repo, reason: 'sync_event' }], dropped: [], state };
}

export async function decodeRepoFrame(frameBytes: Uint8Array, options: DecodeOptions = {}): Promise<RepoFrameOutcome> {
  const frame = openFrame(frameBytes);
  if (frame.kind !== 'message') return frame;
  const { t, body } = frame;
  if (t === '#info') {
    const name = body['name'];
    const message = body['message'];
    if (typeof name !== 'string') return { kind: 'invalid', reason: 'invalid_frame', message: '#info without a name' };
    return typeof message === 'string' ? { kind: 'info', name, message } : { kind: 'info', name };
  }
  return decodeRepoMessage(t, body, options);
}

/** One framed subscribeRepos message other than #info (the subscription core handles #info and error frames). */
export async function decodeRepoMessage(t: string, body: Body, options: DecodeOptions = {}): Promise<RepoFrameOutcome> {
  const seq = messageSeq(body);
  const known = t === '#commit' || t === '#identity' || t === '#account' || t === '#sync';
  if (!known) return seq === undefined ? { kind: 'ignored', reason: 'unknown_frame_type', t } : { kind: 'ignored', reason: 'unknown_frame_type', t, seq };
  const didHint = typeof body['repo'] === 'string' ? body['repo'] : typeof body['did'] === 'string' ? body['did'] : undefined;
  if (seq === undefined) {
    return { kind: 'invalid', reason: 'invalid_frame', message: `${t} without a valid seq`, ...(didHint !== undefined && isValidDid(didHint) ? { did: didHint } : {}) };
  }
  try {
    switch (t) {
      case '#commit':
        return await decodeCommit(seq, body, options);
      case '#identity':
        return decodeIdentity(seq, body);
      case '#account':
        return decodeAccount(seq, body);
      case '#sync':
        return await decodeSync(seq, body, options);
    }
  } catch (err) {
    const reason = err instanceof InvalidBody ? err.reason : 'invalid_frame';
    const message = err instanceof Error ? err.message : String(err);
    return { kind: 'invalid', reason, message: `${t}: ${message}`, seq, ...(didHint !== undefined && isValidDid(didHint) ? { did: didHint } : {}) };
  }
}
