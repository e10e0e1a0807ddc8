// Every metric exists, at zero, from start-up: each kind of `skytide run --only <kind>` process, on real Redis and
// Postgres, serves on /metrics, as soon as it answers, exactly the series declared in adapters/observability/metrics.ts
// (COUNTERS and GAUGES, with the configured hosts, streams and sources put in), every counter at 0, in a valid
// exposition. A series that would appear only on first use (a reason, an outcome, a host) is missing here; a process
// without Postgres shows no Postgres counts (they would read 0 whatever the database holds).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { declaredSeries } from '../../../adapters/observability/metrics.ts';
import { hostKey, STREAMS } from '../../../adapters/redis/keys.ts';
import { stateGaugesFor, TASK_KINDS, usesPostgres, type TaskKind } from '../../../long-runners/cli/tasks.ts';
import { createTestRedis, createTestSchema, TEST_REDIS_URL } from '../../helpers/services.ts';
import { freePort } from '../../helpers/free-port.ts';
import { parsePrometheusText, seriesKey } from '../../helpers/prometheus-text.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const RELAY = 'http://127.0.0.1:9';
const LABELER = 'http://127.0.0.1:7';
const TRUSTED = 'did:plc:trustedaaaaaaaaaaaaaaaaa';

const children: ChildProcessWithoutNullStreams[] = [];

function run(args: string[], env: Record<string, string>): { child: ChildProcessWithoutNullStreams; exited: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
  children.push(child);
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), output: () => output };
}

/** The first /metrics answer of a process just started: what it shows from start-up. */
async function firstScrape(port: number, output: () => string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return await res.text();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no /metrics: ${String(err)}\n${output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('/metrics of every kind of process, right after start-up', () => {
  let db: Awaited<ReturnType<typeof createTestSchema>>;
  let redis: Awaited<ReturnType<typeof createTestRedis>>;
  let env: Record<string, string>;
  const scrapes = new Map<TaskKind, string>();

  beforeAll(async () => {
    db = await createTestSchema('metrics_start');
    redis = await createTestRedis('metrics_start');
    env = {
      DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redis.prefix, SKYTIDE_API_TOKEN: 't',
      // Closed ports: the subscribers retry in the background; nothing they meet may add a series.
      INGESTER_RELAY_HOSTS: RELAY, INGESTER_LABELER_HOSTS: LABELER, LABEL_TRUSTED_SOURCES: TRUSTED,
      // Only so a `sweep` process has a task; it does not fire while the test runs.
      SWEEP_CRON: '0 0 1 1 *',
    };
    expect(await run(['migrate'], env).exited).toBe(0);
    // One synchronized repo: a process that shows the repo_sync gauge shows it, one without Postgres shows nothing.
    const pg = postgres(db.url, { max: 1, onnotice: () => {} });
    await pg.unsafe(`insert into repo_sync (did, status, "updatedAt") values ('did:plc:syncedaaaaaaaaaaaaaaaaaa', 'synchronized', '2025-01-01T00:00:00Z')`);
    await pg.end();
    // One process per kind, all at once, each scraped as soon as it answers.
    await Promise.all(TASK_KINDS.map(async (kind) => {
      const port = await freePort();
      const p = run(['run', '--only', kind], { ...env, HTTP_PORT: String(port) });
      scrapes.set(kind, await firstScrape(port, p.output));
      p.child.kill('SIGTERM');
      expect(await p.exited, p.output()).toBe(0);
    }));
  }, 90_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await redis?.cleanup();
    await db?.drop();
  });

  it.each(TASK_KINDS)('run --only %s: exactly the declared series, every counter at zero, a valid exposition', (kind) => {
    const families = parsePrometheusText(scrapes.get(kind)!);
    const expected = declaredSeries({
      hosts: [hostKey(RELAY)],
      streams: Object.values(STREAMS),
      labelHosts: [hostKey(LABELER)],
      labelSources: [TRUSTED],
      stateGauges: stateGaugesFor([kind]),
    });
    const shown = new Map<string, number>();
    for (const [name, f] of families) for (const s of f.samples) shown.set(seriesKey(name, s.labels), s.value);
    expect([...shown.keys()].sort()).toEqual(expected.map((s) => seriesKey(s.name, s.labels)).sort());
    for (const s of expected) {
      expect(families.get(s.name)?.type).toBe(s.type);
      if (s.type === 'counter') expect(shown.get(seriesKey(s.name, s.labels)), seriesKey(s.name, s.labels)).toBe(0);
    }
    // The Postgres counts, where shown, are the database's (the gauges are refreshed before the answer).
    if (usesPostgres([kind])) expect(shown.get(seriesKey('skytide_repo_sync', { status: 'synchronized' }))).toBe(1);
  });

  it.each(TASK_KINDS)('run --only %s: a host="unknown" series only where a label_live entry can name no host (the label function, parking)', (kind) => {
    // The label subscriber always knows its host (one connection per INGESTER_LABELER_HOSTS entry): an `unknown`
    // series of its counters would sit at zero for good. Only entries of rsky and the TS pipeline name no host: the
    // label function counts them, and parks them (when their source's host is down) under `unknown`.
    const unknown = new Set<string>();
    for (const [name, f] of parsePrometheusText(scrapes.get(kind)!)) for (const s of f.samples) if (s.labels['host'] === 'unknown') unknown.add(name);
    expect([...unknown].sort()).toEqual(['skytide_labels_parked_total', 'skytide_labels_rejected_total', 'skytide_labels_total', 'skytide_parked_labels']);
  });
});
