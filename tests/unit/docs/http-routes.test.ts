// The README's HTTP table (README.md, "HTTP") against the Hono app itself: every route the app registers has a row,
// every row names a route the app has, and what the README says of auth holds for every mutating route (401 with a
// challenge without the token, 503 where no token is configured), so a route added, renamed or left open fails here.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../adapters/http/app.ts';
import type { AuthOptions } from '../../../adapters/http/auth.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog, systemClock, type Sql } from '../../../functions/ports.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

const untouchable: Sql = {
  query: async () => {
    throw new Error('auth must refuse before the database is touched');
  },
  transaction: async () => {
    throw new Error('auth must refuse before the database is touched');
  },
};

function build(auth: AuthOptions) {
  const bundle = createMetrics({ hosts: [], streams: ['firehose_live'] });
  return createApp({
    auth,
    bodyLimitBytes: 1024,
    ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: untouchable },
    metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
    readiness: [],
  });
}

/** `METHOD /path` of every route the app answers (middleware registered per route counts once). */
function appRoutes(): string[] {
  const app = build({ dev: false, token: 's3cret' });
  return [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))].sort();
}

/** `METHOD /path` named in the first cell of each row of the README's HTTP table. */
function readmeRoutes(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### HTTP\n');
  expect(start).toBeGreaterThan(-1);
  const rows = readme.slice(start).split('\n').slice(1);
  const table = rows.slice(rows.findIndex((l) => l.startsWith('|')));
  const cells = table.slice(0, table.findIndex((l) => !l.startsWith('|'))).slice(2).map((l) => l.split('|')[1] ?? '');
  return [...new Set(cells.flatMap((cell) => [...cell.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`\s]*)`/g)].map((m) => `${m[1]} ${m[2]}`)))].sort();
}

describe('README HTTP table', () => {
  it('has a row for every route of the app, and no route the app lacks', () => {
    expect(readmeRoutes()).toEqual(appRoutes());
  });

  it('holds for auth: every mutating route answers 401 with a challenge without the token, 503 with no token configured', async () => {
    const mutating = appRoutes().filter((r) => !r.startsWith('GET '));
    expect(mutating.length).toBeGreaterThan(0);
    const path = (route: string) => route.split(' ')[1]!.replace(':did', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz');
    for (const route of mutating) {
      const refused = await build({ dev: false, token: 's3cret' }).request(path(route), { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect({ route, status: refused.status, challenge: refused.headers.get('www-authenticate') !== null }).toEqual({ route, status: 401, challenge: true });
      expect(await refused.json()).toMatchObject({ error: 'unauthorized' });
      const closed = await build({ dev: false, token: undefined }).request(path(route), { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect({ route, status: closed.status }).toEqual({ route, status: 503 });
    }
  });
});
