// `skytide sweep` stopped by SIGTERM or SIGINT partway through a listing: a real process against real Redis and
// Postgres and a listRepos server on 127.0.0.1 that holds its second page back, so the signal lands mid-listing. It
// exited 0, and a CronJob took a sweep that had listed one page for a finished one (review: slow-relay.mjs). It must
// exit 143 (SIGTERM) or 130 (SIGINT), as `skytide migrate` does, and print each host's progress as one JSON line on
// stdout, its first page counted and durable.
import { spawn } from 'node:child_process';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../helpers/services.ts';
import { queuedDids, useSweepSetup } from '../../helpers/fake-list-repos.ts';
import { waitFor } from '../../helpers/wait.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:stop${String(i).padStart(20, 'a')}`);
const PAGE = 2;

// The page at cursor '2' (the second) is held until the end of the file: the sweep is mid-listing when signalled.
const release: (() => void)[] = [];
const s = useSweepSetup('sweep_cli_stop', {
  dids: DIDS, pageSize: PAGE, onPage: ({ cursor }) => (cursor === '2' ? new Promise<void>((go) => release.push(go)) : undefined),
});
// Registered after the set-up's, so it runs before the relay closes: a held request answered.
afterAll(() => {
  for (const go of release.splice(0)) go();
});
beforeEach(() => {
  // The previous case's held request (its process gone) answered, so the next wait sees this case's own.
  for (const go of release.splice(0)) go();
});

describe('`skytide sweep` stopped mid-listing', () => {
  it.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('by %s exits %i and prints each host\'s progress as one JSON line', async (signal, code) => {
    const child = spawn(process.execPath, [CLI, 'sweep'], {
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: s.keys.stream(''), DATABASE_URL: s.db.url, INGESTER_RELAY_HOSTS: s.host, SWEEP_PAGE_SIZE: String(PAGE) },
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', () => {});
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    // The first page is durable (its cursor stored) and the second is held at the relay.
    await waitFor(() => s.redis.get(s.keys.cursor('repo_backfill', s.host)), (c) => c === '2', 'the first page');
    await waitFor(() => release.length, (n) => n > 0, 'the second page to be asked');
    child.kill(signal);
    expect(await exited).toBe(code);
    const results = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => 'hosts' in l);
    expect(results).toEqual([{
      done: false,
      stoppedBy: signal,
      hosts: [{ host: s.host, pages: 1, listed: 2, queued: 2, skippedInSync: 0, skippedPages: 0, retriedRanges: 0, skippedRanges: 0, filtered: 0, invalidDids: 0, done: false }],
    }]);
    expect(await queuedDids(s.redis, s.keys)).toEqual(DIDS.slice(0, PAGE));
  });
});
