// What a deployment keeps: collections (INGESTER_COLLECTIONS) and DIDs (INGESTER_DIDS, INGESTER_EXCLUDE_DIDS), for
// those who need less than the whole AppView (a feed generator keeps posts and likes; a community AppView keeps its
// members). Pure: parsed once at config time, then asked per event, per backfilled repo and per swept DID.
//
// Rules:
// - A DID is kept when INGESTER_DIDS is empty or names it, and INGESTER_EXCLUDE_DIDS does not name it. A dropped DID
//   writes nothing: no record, identity or account event, no resync request, no backfill.
// - A collection is kept when INGESTER_COLLECTIONS is empty, names it, or holds a pattern `prefix.*` it falls under
//   (`app.bsky.feed.*` keeps `app.bsky.feed.post` and `app.bsky.feed.like`, not `app.bsky.feedx.post` nor
//   `app.bsky.feed` itself). The collection rule applies to record events only (create, update, delete); identity,
//   account and repo events of a kept DID always pass.
// - Filters act on what is written, never on what is checked: commits are verified and the per-repo continuity state
//   advances for every commit of every DID, so a commit whose ops are all filtered out still moves its repo's rev and
//   root; it writes no event (events are per op, so a commit with some ops kept writes just those).
import type { StreamEvent } from './events.ts';
import { configuredDidProblem } from './atproto/syntax/did.ts';
import { isValidNsid } from './atproto/syntax/nsid.ts';

export interface EventFilter {
  /** Exact NSIDs kept; empty with no prefixes: every collection. */
  readonly collections: ReadonlySet<string>;
  /** Prefixes (with their trailing dot) from `prefix.*` patterns. */
  readonly collectionPrefixes: readonly string[];
  /** DIDs kept; empty: every DID. */
  readonly dids: ReadonlySet<string>;
  /** DIDs dropped (parseEventFilter refuses one that `dids` names too). */
  readonly excludeDids: ReadonlySet<string>;
}

export interface EventFilterInput {
  collections?: readonly string[];
  dids?: readonly string[];
  excludeDids?: readonly string[];
}

/** Why an event was dropped (the label of skytide_filtered_total). */
export type FilterDrop = 'did' | 'collection';

export const KEEP_EVERYTHING: EventFilter = { collections: new Set(), collectionPrefixes: [], dids: new Set(), excludeDids: new Set() };

export type FilterParse = { ok: true; filter: EventFilter } | { ok: false; problems: string[] };

/**
 * Collections compare as written, and the network writes an NSID's domain part (all but its name) in lower case: an
 * entry with capitals there would keep nothing.
 */
const CAPITALS = 'has capitals in its domain part: the network writes it in lower case';
const authorityOf = (nsid: string): string => nsid.slice(0, nsid.lastIndexOf('.'));

/** Checks every entry (named in the problems with its variable) and builds the filter. */
export function parseEventFilter(input: EventFilterInput): FilterParse {
  const problems: string[] = [];
  const collections = new Set<string>();
  const collectionPrefixes: string[] = [];
  for (const c of input.collections ?? []) {
    if (c.endsWith('.*')) {
      const prefix = c.slice(0, -2);
      // `app.bsky.*` (or even `com.*`) is a valid pattern though its prefix is no NSID: it must begin one.
      if (!isValidNsid(`${prefix}.a.b`) || prefix.includes('*')) problems.push(`INGESTER_COLLECTIONS: ${JSON.stringify(c)} is not an NSID prefix followed by .*`);
      else if (prefix !== prefix.toLowerCase()) problems.push(`INGESTER_COLLECTIONS: ${JSON.stringify(c)} ${CAPITALS} (${prefix.toLowerCase()}.*)`);
      else collectionPrefixes.push(`${prefix}.`);
    } else if (!isValidNsid(c)) {
      problems.push(`INGESTER_COLLECTIONS: ${JSON.stringify(c)} is not an NSID (or a prefix followed by .*)`);
    } else if (authorityOf(c) !== authorityOf(c).toLowerCase()) {
      problems.push(`INGESTER_COLLECTIONS: ${JSON.stringify(c)} ${CAPITALS} (${authorityOf(c).toLowerCase()}${c.slice(authorityOf(c).length)})`);
    } else {
      collections.add(c);
    }
  }
  const didSet = (name: string, values: readonly string[] | undefined) => {
    const set = new Set<string>();
    for (const d of values ?? []) {
      // A DID that cannot exist is a typo that would keep nothing (or drop nothing): named here rather than ignored.
      const problem = configuredDidProblem(d);
      if (problem === undefined) set.add(d);
      else problems.push(`${name}: ${JSON.stringify(d)} ${problem}`);
    }
    return set;
  };
  const dids = didSet('INGESTER_DIDS', input.dids);
  const excludeDids = didSet('INGESTER_EXCLUDE_DIDS', input.excludeDids);
  const both = [...dids].filter((d) => excludeDids.has(d));
  if (both.length > 0) problems.push(`INGESTER_DIDS and INGESTER_EXCLUDE_DIDS both name ${both.join(', ')}`);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, filter: { collections, collectionPrefixes, dids, excludeDids } };
}

/** True when the filter keeps everything (no work to do per event). */
export function keepsEverything(f: EventFilter): boolean {
  return f.collections.size === 0 && f.collectionPrefixes.length === 0 && f.dids.size === 0 && f.excludeDids.size === 0;
}

export function keepsDid(f: EventFilter, did: string): boolean {
  if (f.excludeDids.has(did)) return false;
  return f.dids.size === 0 || f.dids.has(did);
}

export function keepsCollection(f: EventFilter, collection: string): boolean {
  if (f.collections.size === 0 && f.collectionPrefixes.length === 0) return true;
  if (f.collections.has(collection)) return true;
  for (const p of f.collectionPrefixes) if (collection.startsWith(p) && collection.length > p.length) return true;
  return false;
}

/** Why the event is dropped, or undefined when it is kept. */
export function dropReason(f: EventFilter, event: StreamEvent): FilterDrop | undefined {
  if (!keepsDid(f, event.did)) return 'did';
  if ((event.type === 'create' || event.type === 'update' || event.type === 'delete') && !keepsCollection(f, event.collection)) return 'collection';
  return undefined;
}

export function keepsEvent(f: EventFilter, event: StreamEvent): boolean {
  return dropReason(f, event) === undefined;
}

/**
 * The collection rule of a filter as repo_sync stores it beside a synchronized repo: its exact NSIDs and `prefix.*`
 * patterns, sorted, comma-separated; null when every collection is kept.
 */
export function collectionsKept(f: EventFilter): string | null {
  if (f.collections.size === 0 && f.collectionPrefixes.length === 0) return null;
  return [...[...f.collections].sort(), ...f.collectionPrefixes.map((p) => `${p}*`).sort()].join(',');
}

/**
 * Whether a repo synchronized under the stored collection rule (collectionsKept; null: every collection) holds every
 * collection `f` keeps, so that fetching it again under `f` could add no record. A filter widened since does not:
 * the collections it adds were left out of the repo's backfill.
 */
export function keptAllOf(stored: string | null, f: EventFilter): boolean {
  if (stored === null) return true;
  if (f.collections.size === 0 && f.collectionPrefixes.length === 0) return false;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of stored.split(',')) {
    if (entry.endsWith('.*')) prefixes.push(entry.slice(0, -1));
    else if (entry !== '') exact.add(entry);
  }
  const storedKeeps = (c: string) => exact.has(c) || prefixes.some((p) => c.startsWith(p) && c.length > p.length);
  // A pattern is held only under a stored pattern at or above it: exact NSIDs cannot cover all it may match.
  return [...f.collections].every(storedKeeps) && f.collectionPrefixes.every((p) => prefixes.some((q) => p.startsWith(q)));
}
