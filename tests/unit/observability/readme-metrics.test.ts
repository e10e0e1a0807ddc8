// The README's metrics table is what operators build dashboards from: it must list exactly the declared metrics,
// each with its type and its label names.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COUNTERS, declaredSeries, GAUGES } from '../../../adapters/observability/metrics.ts';

describe('README metrics table', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const table = readme.split('<!-- metrics:start -->')[1]?.split('<!-- metrics:end -->')[0] ?? '';
  const rows = new Map<string, string>();
  for (const line of table.split('\n')) {
    const m = /^\| `(skytide_[a-z_]+)` \| (counter|gauge \((?:redis|postgres|process)\)) \| (.*?) \| .* \|$/.exec(line);
    if (m === null) continue;
    const labels = m[3] === '—' ? [] : [...m[3]!.matchAll(/(?:^|; )`(\w+)` \(/g)].map((l) => l[1]!);
    rows.set(m[1]!, `${m[2]} ${labels.join(',')}`);
  }

  it('lists every declared metric, and only those, with its type and labels', () => {
    const declared = new Map<string, string>([
      ...Object.entries(COUNTERS).map(([name, s]): [string, string] => [name, `counter ${Object.keys(s.labels).join(',')}`]),
      ...Object.values(GAUGES).map((s): [string, string] => [s.name, `gauge (${s.source}) ${Object.keys(s.labels).join(',')}`]),
    ]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(declared));
  });

  it('says `unknown` among the host values exactly where the metric declares it at start-up', () => {
    const saysUnknown = new Set<string>();
    for (const line of table.split('\n')) {
      const m = /^\| `(skytide_[a-z_]+)` \| [^|]+ \| (.*?) \|/.exec(line);
      if (m !== null && /`host` \([^)]*`unknown`\)/.test(m[2]!)) saysUnknown.add(m[1]!);
    }
    const declaresUnknown = declaredSeries({ hosts: ['relay.example'], streams: ['s'], labelHosts: ['labeler.example'] })
      .filter((s) => s.labels['host'] === 'unknown')
      .map((s) => s.name);
    expect([...saysUnknown].sort()).toEqual([...new Set(declaresUnknown)].sort());
  });
});
