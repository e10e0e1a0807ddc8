// Pure planning of a batch before any SQL: validate each event's identifiers, pick one winner per record URI, the
// latest identity and account change per DID, and the newest commit per DID. The order of events in the batch never
// matters: every choice here is a maximum under a total order.
import { isBackfillSeq, recordUri, type AccountEvent, type IdentityEvent, type RecordEvent, type StreamEvent } from '../events.ts';
import { dead, ok, type ItemOutcome } from '../result.ts';
import { isValidDid } from '../atproto/syntax/did.ts';
import { isValidNsid } from '../atproto/syntax/nsid.ts';
import { isValidRecordKey } from '../atproto/syntax/record-key.ts';
import { isValidTid } from '../atproto/syntax/tid.ts';

export interface RecordOp {
  position: number;
  uri: string;
  event: RecordEvent;
}

export interface CommitSeen {
  rev: string;
  commit: string;
}

export interface BatchPlan {
  outcomes: ItemOutcome[];
  /** One op per URI, sorted by URI. */
  winners: RecordOp[];
  /** Positions that lost to a newer op on the same URI inside this batch. */
  superseded: number[];
  identities: Map<string, IdentityEvent>;
  accounts: Map<string, AccountEvent>;
  commits: Map<string, CommitSeen>;
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

/** Later of two changes to an actor: by seq, backfill seqs counting as oldest; then by time. */
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
  return undefined;
}

export function planBatch(events: readonly StreamEvent[]): BatchPlan {
  const outcomes: ItemOutcome[] = [];
  const byUri = new Map<string, RecordOp>();
  const superseded: number[] = [];
  const identities = new Map<string, IdentityEvent>();
  const accounts = new Map<string, AccountEvent>();
  const commits = new Map<string, CommitSeen>();
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
      case 'delete': {
        const uri = recordUri(event);
        const current = byUri.get(uri);
        if (current === undefined) byUri.set(uri, { position, uri, event });
        else if (compareOps(event, current.event) > 0) {
          superseded.push(current.position);
          byUri.set(uri, { position, uri, event });
        } else superseded.push(position);
        noteCommit(commits, event.did, event.rev, event.commit);
        break;
      }
      case 'repo':
        noteCommit(commits, event.did, event.rev, event.commit);
        break;
      case 'identity': {
        const prev = identities.get(event.did);
        if (prev === undefined || isLater(event, prev)) identities.set(event.did, event);
        break;
      }
      case 'account': {
        const prev = accounts.get(event.did);
        if (prev === undefined || isLater(event, prev)) accounts.set(event.did, event);
        break;
      }
      default:
        event satisfies never;
    }
  });
  const winners = [...byUri.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  return { outcomes, winners, superseded, identities, accounts, commits, actors };
}

function noteCommit(commits: Map<string, CommitSeen>, did: string, rev: string, commit: string): void {
  const prev = commits.get(did);
  if (prev === undefined || rev > prev.rev || (rev === prev.rev && commit > prev.commit)) commits.set(did, { rev, commit });
}
