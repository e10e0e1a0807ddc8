// A fake relay for the sweeps' tests (tests/integration/sweeper): an HTTP server on 127.0.0.1 that answers
// com.atproto.sync.listRepos from a list of DIDs, a page at a time from the request's `limit` (or a fixed page size),
// the next page's cursor the position it starts at (numeric, or opaque with `opaque`), with the switches those tests
// turn: a page answered with an HTTP status or never answered (`fail`), a request held while the test acts (`onPage`),
// the account state listed for a DID (`states`), an entry listed at a position instead of its DID's (`replaced`), and
// how often each cursor was asked (`asked`). Every path answers as listRepos, as the servers it replaces did.
// `useSweepSetup` is the set-up the Redis sweeper's tests share: a test Redis and index database per file, the relay
// per file (its switches reset before each test), a key space per test under the file's prefix, runSweep with fast
// test defaults, and the readers they assert on (the repo_backfill DIDs, the skipped ranges, the stored cursor).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Redis } from 'ioredis';
import { runSweep, type SweepOptions, type SweepProgress } from '../../long-runners/sweeper/sweep.ts';
import { createKeySpace, sweepSkippedKey, type KeySpace } from '../../adapters/redis/keys.ts';
import { noMetrics, silentLog } from '../../functions/ports.ts';
import { createIndexDb, type IndexDb } from './index-db.ts';
import { createTestRedis } from './services.ts';

/** The account state a listRepos entry carries (`{}`: neither field, as older PDSes list). */
export interface ListedState {
  active?: boolean;
  status?: string;
}

/** A listRepos request as the relay met it. */
export interface PageAsked {
  /** The cursor asked for; null: from the start. */
  cursor: string | null;
  /** The position the page starts at (an opaque cursor's too). */
  start: number;
  /** The entries the page lists at most. */
  limit: number;
  /** How often this cursor was asked, this request included. */
  asked: number;
}

/** An answer instead of the page: an HTTP status with a JSON error body (the sweep never reads it) and any headers. */
export interface PageFailure {
  status: number;
  headers?: Record<string, string>;
}

export interface FakeListReposOptions {
  dids: readonly string[];
  /** Entries per page whatever the request's `limit` asks; default the request's `limit`. */
  pageSize?: number;
  /** A DID's entry before its account state, given its position; default `{ did, head: 'bafy', rev: '3laaaaaaaaaaa' }`. */
  entry?: (did: string, position: number) => Record<string, unknown>;
  /** The account state of a DID not in `states`; default `{ active: true }`. */
  defaultState?: ListedState;
  /** Every page names the next cursor, the last one too: the listing ends with an empty page. Default: the last page has none. */
  cursorPastEnd?: boolean;
  /** `fail` and `onPage` as set at the start and at each `reset`. */
  fail?: FakeListRepos['fail'];
  onPage?: FakeListRepos['onPage'];
}

export interface FakeListRepos {
  /** `http://127.0.0.1:<port>`, once `listen` has run. */
  readonly url: string;
  /** Requests per cursor asked (null: from the start). */
  readonly asked: Map<string | null, number>;
  /** The account state listed for a DID instead of the default. */
  readonly states: Map<string, ListedState>;
  /** What is listed at a position instead of its DID's entry (an entry with no valid DID, no object at all...). */
  readonly replaced: Map<number, unknown>;
  /** Cursors are `o<position>`, not a number a sweep could read a range from. */
  opaque: boolean;
  /** How a request is answered instead of its page; undefined: the page; 'hang': never answered. Asked after `onPage`. */
  fail: (page: PageAsked) => PageFailure | 'hang' | undefined;
  /** Awaited before a request is answered: lets a test act mid-sweep, or hold a page back. */
  onPage: (page: PageAsked) => Promise<void> | void;
  /** Starts the server; gives its url. */
  listen(): Promise<string>;
  /** Every switch back to the options' (the maps emptied, not replaced). */
  reset(): void;
  /** Drops every connection (a held or hung request's too) and stops the server. */
  close(): Promise<void>;
}

const noFailure: FakeListRepos['fail'] = () => undefined;
const noPause: FakeListRepos['onPage'] = () => {};

/** The relay, its switches usable at once, not yet listening (`listen`). */
export function fakeListRepos(options: FakeListReposOptions): FakeListRepos {
  const entry = options.entry ?? ((did: string) => ({ did, head: 'bafy', rev: '3laaaaaaaaaaa' }));
  const defaultState = options.defaultState ?? { active: true };
  let url: string | undefined;
  const server: Server = createServer(async (req, res) => {
    const params = new URL(req.url ?? '/', 'http://x').searchParams;
    const limit = options.pageSize ?? Number(params.get('limit'));
    const cursor = params.get('cursor');
    const start = Number((cursor ?? '0').replace('o', ''));
    const asked = (relay.asked.get(cursor) ?? 0) + 1;
    relay.asked.set(cursor, asked);
    const page: PageAsked = { cursor, start, limit, asked };
    await relay.onPage(page);
    const failure = relay.fail(page);
    if (failure === 'hang') return;
    if (failure !== undefined) {
      res.writeHead(failure.status, { 'content-type': 'application/json', ...failure.headers }).end(JSON.stringify({ error: 'Failing' }));
      return;
    }
    const repos = options.dids.slice(start, start + limit).map((did, i) =>
      relay.replaced.has(start + i) ? relay.replaced.get(start + i) : { ...entry(did, start + i), ...(relay.states.get(did) ?? defaultState) });
    const next = start + limit < options.dids.length || options.cursorPastEnd === true ? `${relay.opaque ? 'o' : ''}${start + limit}` : undefined;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(next === undefined ? { repos } : { repos, cursor: next }));
  });
  const relay: FakeListRepos = {
    get url() {
      if (url === undefined) throw new Error('the fake listRepos relay is not listening yet');
      return url;
    },
    asked: new Map(),
    states: new Map(),
    replaced: new Map(),
    opaque: false,
    fail: options.fail ?? noFailure,
    onPage: options.onPage ?? noPause,
    async listen() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return url;
    },
    reset() {
      relay.asked.clear();
      relay.states.clear();
      relay.replaced.clear();
      relay.opaque = false;
      relay.fail = options.fail ?? noFailure;
      relay.onPage = options.onPage ?? noPause;
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  return relay;
}

/** The relay, listening. */
export async function startFakeListRepos(options: FakeListReposOptions): Promise<FakeListRepos> {
  const relay = fakeListRepos(options);
  await relay.listen();
  return relay;
}

/** The DIDs of the repo_backfill entries in `keys`, in stream order. */
export async function queuedDids(redis: Redis, keys: KeySpace): Promise<string[]> {
  return (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => (JSON.parse(f[1] ?? '{}') as { did: string }).did);
}

export interface SweepSetup {
  readonly redis: Redis;
  /** The file's key prefix (every key under it is deleted at the end). */
  readonly prefix: string;
  readonly db: IndexDb;
  /** The current test's key space, under the prefix. */
  readonly keys: KeySpace;
  /** The file's relay; its switches are usable at once and reset before each test. */
  readonly relay: FakeListRepos;
  /** The relay's url, the host swept. */
  readonly host: string;
  /**
   * runSweep of the relay into the test's key space: pages of 2, 5 ms retries, high-water mark 1000, silent log, no
   * metrics, a signal never aborted; `overrides` last.
   */
  sweep(overrides?: Partial<SweepOptions>): Promise<SweepProgress>;
  /** The DIDs queued on repo_backfill, in order. */
  queued(): Promise<string[]>;
  /** The relay's skipped ranges, sorted. */
  skipped(): Promise<string[]>;
  /** The relay's stored repo_backfill cursor. */
  cursor(): Promise<string | null>;
}

/** Registers the file's hooks (call it once, at the top of the file) and gives the set-up its tests read. */
export function useSweepSetup(label: string, relayOptions: FakeListReposOptions): SweepSetup {
  const relay = fakeListRepos(relayOptions);
  let services: { redis: Redis; prefix: string; cleanup: () => Promise<void>; db: IndexDb } | undefined;
  let keys: KeySpace | undefined;

  beforeAll(async () => {
    const [test, db] = await Promise.all([createTestRedis(label), createIndexDb(label), relay.listen()]);
    services = { ...test, db };
  });
  afterAll(async () => {
    await relay.close();
    await services?.cleanup();
    await services?.db.close();
  });
  beforeEach(() => {
    keys = createKeySpace(`${s.prefix}${Math.random().toString(36).slice(2)}:`);
    relay.reset();
  });

  const present = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the sweep set-up has no ${what} yet`);
    return value;
  };
  const s: SweepSetup = {
    get redis() {
      return present(services, 'Redis').redis;
    },
    get prefix() {
      return present(services, 'Redis').prefix;
    },
    get db() {
      return present(services, 'database').db;
    },
    get keys() {
      return present(keys, 'key space outside a test');
    },
    relay,
    get host() {
      return relay.url;
    },
    sweep: (overrides = {}) => runSweep({
      redis: s.redis, keys: s.keys, sql: s.db.sql, fetch: globalThis.fetch, host: s.host, highWaterMark: 1000, pageSize: 2,
      retryDelayMs: 5, log: silentLog, metrics: noMetrics, signal: new AbortController().signal, ...overrides,
    }),
    queued: () => queuedDids(s.redis, s.keys),
    skipped: async () => (await s.redis.smembers(sweepSkippedKey(s.keys, s.host))).sort(),
    cursor: () => s.redis.get(s.keys.cursor('repo_backfill', s.host)),
  };
  return s;
}
