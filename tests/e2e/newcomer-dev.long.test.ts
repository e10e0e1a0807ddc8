// What a newcomer does: a fresh clone, none of skytide's variables, no redis-server on PATH, and no way to reach the
// machine's Postgres or Redis (the dev process runs in a network namespace of its own, made with `unshare -n`, where
// 127.0.0.1 is an empty loopback: proved below). `npm run dev`; data reaches the embedded database (PGlite); headless
// Chromium (Debian's package, driven by playwright-core, entering the same namespace through nsenter) opens the
// status page and the charts draw non-zero data; a screenshot is saved in test-artifacts/. Then the simulation is
// stopped, the pipeline drains, and the simulated network's truth (every account's records and handle, read from the
// PDS) equals the indexed database, read from `.skytide/dev-db/` with PGlite once the process has stopped.
// NOTE: the clone reuses this checkout's node_modules by symlink (installing from the registry through a proxy would
// take most of the test's time on two shared cores), and the clone's lock is dated back so ensure.sh does not reinstall.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { devDatabaseOptions } from '../../long-runners/dev/embedded-postgres.ts';

const REPO = path.join(import.meta.dirname, '../..');
const ARTIFACTS = path.join(REPO, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';

function sh(cmd: string, args: string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Runs a command inside the dev process's network namespace. */
function inNamespace(pid: number, args: string[]): { status: number | null; stdout: string } {
  const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout };
}

function curl(pid: number, url: string, method = 'GET', body?: unknown): unknown {
  // No -f: an HTTP error's body (the route's reason) is kept and shown; the status comes last, on its own line.
  const args = ['curl', '-s', '-w', '\n%{http_code}', '-X', method, '-H', 'accept: application/json', url];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
  const r = inNamespace(pid, args);
  if (r.status !== 0) throw new Error(`curl ${url}: exit ${r.status}`);
  const cut = r.stdout.lastIndexOf('\n');
  const code = Number(r.stdout.slice(cut + 1));
  const text = r.stdout.slice(0, cut);
  if (code >= 400) throw new Error(`${method} ${url}: HTTP ${code}: ${text.slice(0, 2000)}`);
  return JSON.parse(text) as unknown;
}

async function until<T>(what: string, timeoutMs: number, fn: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface Status {
  streams: { stream: string; length: number; pending: number; dlq: number }[];
  cursors: Record<string, string>;
  repoSync: Record<string, number>;
}

/** The `node long-runners/cli/main.ts dev` process running in `clone` (found through /proc: cwd and command line). */
function skytidePid(clone: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      // The node process itself (ensure.sh execs it), not the shells npm put in front of it.
      if (path.basename(argv[0] ?? '') === 'node' && argv[1] === 'long-runners/cli/main.ts' && realpathSync(`/proc/${entry}/cwd`) === realpathSync(clone)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

let dev: ChildProcess | undefined;
let work: string | undefined;

afterAll(() => {
  // A failed run leaves nothing behind: the skytide process first (npm does not take it down), then the rest.
  const skytide = work === undefined ? undefined : skytidePid(path.join(work, 'skytide'));
  if (skytide !== undefined) process.kill(skytide, 'SIGKILL');
  if (dev?.exitCode === null) dev.kill('SIGKILL');
  if (work !== undefined && process.env['KEEP_NEWCOMER'] === undefined) rmSync(work, { recursive: true, force: true });
});

describe('a newcomer runs npm run dev on a machine with nothing but Node', () => {
  it('gets a simulated network into an embedded database, a status page with live charts, and an index equal to the truth', async () => {
    expect(existsSync(CHROMIUM), 'Debian chromium is installed (.ci/run installs it)').toBe(true);
    work = mkdtempSync(path.join(os.tmpdir(), 'skytide-newcomer-'));
    const clone = path.join(work, 'skytide');
    sh('git', ['clone', '-q', REPO, clone]);
    symlinkSync(path.join(REPO, 'node_modules'), path.join(clone, 'node_modules'));
    const old = new Date('2000-01-01T00:00:00Z');
    utimesSync(path.join(clone, 'package-lock.json'), old, old);

    // A PATH with node, npm and the shell tools ensure.sh uses: no redis-server, no postgres.
    const bin = path.join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, path.join(bin, 'node'));
    for (const tool of ['npm', 'sh', 'dirname', 'ip']) {
      const where = sh('sh', ['-c', `command -v ${tool}`]).trim();
      symlinkSync(where, path.join(bin, tool));
    }
    expect(spawnSync('sh', ['-c', 'command -v redis-server'], { env: { PATH: bin } }).status).not.toBe(0);

    const logs: string[] = [];
    const unshare = sh('sh', ['-c', 'command -v unshare']).trim();
    dev = spawn(unshare, ['-n', 'sh', '-c', 'ip link set lo up && exec npm run dev -- --rate 4 --accounts 5'], {
      cwd: clone,
      env: { HOME: work, PATH: bin, npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dev.stdout?.on('data', (c: Buffer) => logs.push(c.toString()));
    dev.stderr?.on('data', (c: Buffer) => logs.push(c.toString()));
    const pid = dev.pid!;
    const exited = new Promise<number | null>((resolve) => dev!.on('exit', (code) => resolve(code)));

    // The dev process cannot use the machine's Postgres or Redis: in its namespace nothing listens on their ports.
    // (unshare makes the namespace just after it starts: wait until the process is in one other than ours.)
    await until('the dev process in its own network namespace', 30_000, () =>
      readlinkSync(`/proc/${pid}/ns/net`) !== readlinkSync('/proc/self/ns/net') ? true : undefined);
    const probe = (port: number) =>
      inNamespace(pid, [process.execPath, '-e', `require('net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(3))`]).status;
    expect(probe(5432)).toBe(3);
    expect(probe(6379)).toBe(3);

    const base = 'http://127.0.0.1:3000';
    const status = () => (curl(pid, `${base}/status.json`) as { status: Status }).status;
    // Data reaches the embedded database: repos synchronized (repo_sync is in Postgres) and records indexed.
    await until('records in the embedded database', 240_000, () => {
      const s = status();
      return (s.repoSync['synchronized'] ?? 0) >= 5 && Object.keys(s.cursors).length > 0 ? s : undefined;
    });
    const all = logs.join('');
    expect(all).toContain('embedded postgres (PGlite)');
    expect(all).toContain('NOT DURABLE');
    // A fault injected through the relay is counted by the pipeline and charted.
    curl(pid, `${base}/dev/fault`, 'POST', { kind: 'malformed_frame' });

    const { chromium } = await import('playwright-core');
    const wrapper = path.join(work, 'chromium-in-namespace');
    writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/proc/${pid}/ns/net ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      await page.goto(`${base}/`);
      await page.waitForFunction(() => Number(document.body.dataset['nonZeroCharts'] ?? 0) >= 6, undefined, { timeout: 60_000 });
      await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('[data-chart="faults"]')?.dataset['max'] ?? 0) > 0, undefined, { timeout: 30_000 });
      const charts = await page.$$eval('section.chart', (sections) =>
        sections.map((s) => ({ chart: (s as HTMLElement).dataset['chart'], max: Number((s as HTMLElement).dataset['max']), lines: s.querySelectorAll('path.line').length })));
      for (const name of ['in', 'out', 'latency', 'cursor', 'sync', 'faults', 'sim']) {
        const chart = charts.find((c) => c.chart === name);
        expect(chart, `chart ${name}`).toBeDefined();
        expect(chart!.max, `chart ${name} has non-zero data`).toBeGreaterThan(0);
        expect(chart!.lines, `chart ${name} draws lines`).toBeGreaterThan(0);
      }
      expect(await page.isVisible('#controls')).toBe(true);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'newcomer-status-page.png'), fullPage: true });
    } finally {
      await browser.close();
    }

    // Stop the simulation and let the pipeline drain: nothing in any stream, nothing pending, cursors still.
    curl(pid, `${base}/dev/rate`, 'POST', { rate: 0 });
    let previous = '';
    await until('the pipeline to drain', 180_000, () => {
      const s = status();
      const idle = s.streams.every((x) => x.length === 0 && x.pending === 0);
      const now = JSON.stringify(s.cursors);
      const still = idle && now === previous && (s.repoSync['in-progress'] ?? 0) === 0;
      previous = now;
      return still ? s : undefined;
    });
    const truth = (() => {
      try {
        return curl(pid, `${base}/dev/truth`);
      } catch (err) {
        // Say why: the dev process's last log lines are the only account of a failed truth read.
        throw new Error(`${String(err)}; skytide dev's last log lines:\n${logs.join('').split('\n').slice(-30).join('\n')}`);
      }
    })() as {
      accounts: { did: string; handle: string; active: boolean; records: { uri: string; cid: string }[] }[];
      labels: { src: string; uri: string; val: string }[];
    };
    expect(truth.accounts.length).toBe(5);
    // Stop skytide itself (npm and the shells in front of it do not wait for their child on SIGTERM), and wait for
    // it to be gone, so PGlite has closed its data folder before the test opens it.
    const skytide = skytidePid(clone);
    expect(skytide, 'the skytide dev process').toBeDefined();
    process.kill(skytide!, 'SIGTERM');
    await until('skytide dev to stop', 60_000, () => (existsSync(`/proc/${skytide}`) ? undefined : true));
    await exited;
    expect(logs.join('')).toContain('"msg":"supervisor exiting","exitCode":0');

    // The index, read from the data folder the newcomer's run left behind.
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(await devDatabaseOptions(path.join(clone, '.skytide', 'dev-db')));
    try {
      const records = await db.query<{ uri: string; cid: string }>(`select uri, cid from record order by uri`);
      const expected = truth.accounts.flatMap((a) => a.records).sort((x, y) => (x.uri < y.uri ? -1 : x.uri > y.uri ? 1 : 0));
      expect(expected.length).toBeGreaterThan(20);
      expect(records.rows).toEqual(expected);
      const actors = await db.query<{ did: string; handle: string | null }>(`select did, handle from actor order by did`);
      expect(actors.rows).toEqual(truth.accounts.map((a) => ({ did: a.did, handle: a.handle })).sort((x, y) => (x.did < y.did ? -1 : 1)));
      // Labels in force (the newest per source, subject and value, a negation winning a tie) are the labeler's.
      const labels = await db.query<{ src: string; uri: string; val: string }>(
        `select src, uri, val from (select distinct on (src, uri, val) src, uri, val, neg from label_version order by src, uri, val, "ctsKey" desc, neg desc) t
         where not coalesce(neg, false) order by uri, val`);
      const key = (l: { uri: string; val: string }) => `${l.uri} ${l.val}`;
      expect(labels.rows.map((l) => ({ src: l.src, uri: l.uri, val: l.val }))).toEqual([...truth.labels].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0)));
    } finally {
      await db.close();
    }
  }, 15 * 60_000);
});
