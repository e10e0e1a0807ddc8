// Pure planning of a batch before any SQL: validate each event's identifiers and group the rest by kind. Record events
// keep every copy (which ones count depends on their account's state, read in the transaction); account events keep
// their stream order per DID; identity events keep the latest per DID. pickWinners then chooses one op per URI among
// the record events that count, by a total order, so the order of record events in the batch never matters.
import { isBackfillSeq, recordUri, type AccountEvent, type IdentityEvent, type RecordEvent, type RepoCommitEvent, type StreamEvent } from '../events.ts';
import { dead, ok, type ItemOutcome } from '../result.ts';
import { isValidDid } from '../atproto/syntax/did.ts';
import { isValidNsid } from '../atproto/syntax/nsid.ts';
import { isValidRecordKey } from '../atproto/syntax/record-key.ts';
import { isValidTid } from '../atproto/syntax/tid.ts';
import { normalizeTime } from './account-state.ts';
import { bskyRecordProblem } from '../atproto/lexicon/bsky.ts';
import { nestsDeeperThan } from '../atproto/lex-json.ts';
import { MAX_CBOR_DEPTH } from '../atproto/limits.ts';
import { appViewRefusal } from './refused-writes.ts';

export interface RecordOp {
  position: number;
  uri: string;
  event: RecordEvent;
  /** Why a write's record fails its lexicon: then it is not indexed at all, as the AppView does. */
  problem?: string;
}

export interface CommitSeen {
  rev: string;
  commit: string;
}

export interface AccountOp {
  position: number;
  event: AccountEvent;
  /** The event's time, normalised for comparison. */
  time: string;
}

export interface BatchPlan {
  outcomes: ItemOutcome[];
  /** Every valid record event, in batch order. */
  records: RecordOp[];
  repos: { position: number; event: RepoCommitEvent }[];
  /** The latest identity event per DID, with its position. */
  identities: Map<string, { position: number; event: IdentityEvent }>;
  /** The other identity events: claims a later event of the same DID superseded (actors.ts, setHandles). */
  earlierIdentities: { position: number; event: IdentityEvent }[];
  /** Account events per DID, in batch (stream) order. */
  accounts: Map<string, AccountOp[]>;
  /** Every DID the batch mentions, with the latest event time seen for it. */
  actors: Map<string, string>;
}

/**
 * The total order of writes to one URI: higher rev wins; at the same rev a delete beats a write (a repo cannot hold
 * both, so this only settles replays deterministically); then the larger CID. Equal means the same op.
 */
export function compareOps(a: RecordEvent, b: RecordEvent): number {
  if (a.rev !== b.rev) return a.rev < b.rev ? -1 : 1;
  const ad = a.type === 'delete' ? 1 : 0;
  const bd = b.type === 'delete' ? 1 : 0;
  if (ad !== bd) return ad - bd;
  const ac = a.type === 'delete' ? '' : a.cid;
  const bc = b.type === 'delete' ? '' : b.cid;
  return ac === bc ? 0 : ac < bc ? -1 : 1;
}

/** Later of two identity changes: by seq, backfill seqs counting as oldest; then by time. */
function isLater(a: { seq: number; time: string }, b: { seq: number; time: string }): boolean {
  const as = isBackfillSeq(a.seq) ? -Infinity : a.seq;
  const bs = isBackfillSeq(b.seq) ? -Infinity : b.seq;
  if (as !== bs) return as > bs;
  return a.time > b.time;
}

function invalidIds(e: StreamEvent): string | undefined {
  if (!isValidDid(e.did)) return `invalid did ${JSON.stringify(e.did)}`;
  if (e.type === 'create' || e.type === 'update' || e.type === 'delete') {
    if (!isValidNsid(e.collection)) return `invalid collection ${JSON.stringify(e.collection)}`;
    if (!isValidRecordKey(e.rkey)) return `invalid rkey ${JSON.stringify(e.rkey)}`;
    if (!isValidTid(e.rev)) return `invalid rev ${JSON.stringify(e.rev)}`;
  }
  if (e.type === 'repo' && !isValidTid(e.rev)) return `invalid rev ${JSON.stringify(e.rev)}`;
  // An account change is placed by its time; one without a usable time cannot be placed at all.
  if (e.type === 'account' && normalizeTime(e.time) === undefined) return `invalid time ${JSON.stringify(e.time)}`;
  return undefined;
}

export function planBatch(events: readonly StreamEvent[]): BatchPlan {
  const outcomes: ItemOutcome[] = [];
  const records: RecordOp[] = [];
  const repos: BatchPlan['repos'] = [];
  const identities: BatchPlan['identities'] = new Map();
  const earlierIdentities: BatchPlan['earlierIdentities'] = [];
  const accounts = new Map<string, AccountOp[]>();
  const actors = new Map<string, string>();

  events.forEach((event, position) => {
    const problem = invalidIds(event);
    if (problem !== undefined) {
      outcomes.push(dead('invalid_syntax', problem));
      return;
    }
    outcomes.push(ok);
    const seen = actors.get(event.did);
    if (seen === undefined || event.time > seen) actors.set(event.did, event.time);
    switch (event.type) {
      case 'create':
      case 'update':
      case 'delete':
        records.push(recordOp(position, event));
        break;
      case 'repo':
        repos.push({ position, event });
        break;
      case 'identity': {
        const prev = identities.get(event.did);
        if (prev === undefined || isLater(event, prev.event)) {
          identities.set(event.did, { position, event });
          if (prev !== undefined) earlierIdentities.push(prev);
        } else earlierIdentities.push({ position, event });
        break;
      }
      case 'account': {
        const op: AccountOp = { position, event, time: normalizeTime(event.time) as string };
        const list = accounts.get(event.did);
        if (list === undefined) accounts.set(event.did, [op]);
        else list.push(op);
        break;
      }
      default:
        event satisfies never;
    }
  });
  return { outcomes, records, repos, identities, earlierIdentities, accounts, actors };
}

/** A record event; a write is checked against its collection's lexicon here, outside the transaction. */
function recordOp(position: number, event: RecordEvent): RecordOp {
  const op: RecordOp = { position, uri: recordUri(event), event };
  if (event.type !== 'delete') {
    // Checked first: the lexicon check and JSON.stringify recurse, and a record this deep never came from a valid
    // DAG-CBOR block anyway (the firehose and backfill paths refuse it as too_deep).
    if (nestsDeeperThan(event.record, MAX_CBOR_DEPTH)) {
      op.problem = `nested deeper than ${MAX_CBOR_DEPTH} levels`;
      return op;
    }
    const problem = bskyRecordProblem(event.collection, event.record) ?? appViewRefusal(event);
    if (problem !== undefined) op.problem = problem;
  }
  return op;
}

/** One op per URI (sorted by URI, so concurrent batches lock rows in one order), and the positions that lost. */
export function pickWinners(ops: readonly RecordOp[]): { winners: RecordOp[]; superseded: number[] } {
  const byUri = new Map<string, RecordOp>();
  const superseded: number[] = [];
  for (const op of ops) {
    const current = byUri.get(op.uri);
    if (current === undefined) byUri.set(op.uri, op);
    else if (compareOps(op.event, current.event) > 0) {
      superseded.push(current.position);
      byUri.set(op.uri, op);
    } else superseded.push(op.position);
  }
  const winners = [...byUri.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  return { winners, superseded };
}

/** The newest commit per DID among the events that count: actor_sync follows what was indexed. */
export function newestCommits(events: Iterable<{ did: string; rev: string; commit: string }>): Map<string, CommitSeen> {
  const commits = new Map<string, CommitSeen>();
  for (const { did, rev, commit } of events) {
    const prev = commits.get(did);
    if (prev === undefined || rev > prev.rev || (rev === prev.rev && commit > prev.commit)) commits.set(did, { rev, commit });
  }
  return commits;
}
