// Every counter bump and gauge set in the source names a declared metric with exactly its declared labels, and every
// label value written out in the call is one the metric declares (adapters/observability/metrics.ts), so it was
// registered at zero on start-up: a value or label that is not declared would make a series appear only on first use
// (a label left out reads `unknown`). Values computed at run time are held to their sets by their types
// (Reason, Dependency, ...) and by tests/integration/cli/metrics-at-start.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COUNTERS, GAUGES } from '../../../adapters/observability/metrics.ts';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '../../..');

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** Counter names passed on through an options field, and the counters each call site hands in. */
const INDIRECT: Record<string, readonly string[]> = {
  'o.counter': ['skytide_firehose_errors_total', 'skytide_label_subscription_errors_total'],
  'o.counters.frames': ['skytide_firehose_frames_total', 'skytide_label_frames_total'],
  'o.counters.errors': ['skytide_firehose_errors_total', 'skytide_label_subscription_errors_total'],
};

interface Call {
  where: string;
  metric: string;
  labels: { name: string; literals: string[] }[];
}

/** `{ a, b: x ? 'y' : 'z' }` to its label names and the string literals of each value. */
function labelsOf(object: string): Call['labels'] {
  return object.split(',').map((s) => s.trim()).filter((s) => s !== '').map((entry) => {
    const colon = entry.indexOf(':');
    const name = colon === -1 ? entry : entry.slice(0, colon).trim();
    const value = colon === -1 ? '' : entry.slice(colon + 1);
    return { name, literals: [...value.matchAll(/'([^']*)'/g)].map((m) => m[1]!) };
  });
}

function calls(): { counters: Call[]; gauges: Call[]; unreadable: string[] } {
  const counters: Call[] = [];
  const gauges: Call[] = [];
  const unreadable: string[] = [];
  for (const file of ['functions', 'adapters', 'long-runners'].flatMap(sources)) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    const line = (index: number) => `${file}:${text.slice(0, index).split('\n').length}`;
    // metrics.inc(name, { labels }, value?) and the like (ports.metrics.inc, o.metrics.inc, ...).
    for (const m of text.matchAll(/metrics\.inc\(\s*([^,()]+?)\s*(?:,\s*(\{[^{}]*\}))?\s*[,)]/g)) {
      const name = m[1]!;
      const labels = labelsOf((m[2] ?? '{}').slice(1, -1));
      const metrics = name.startsWith("'") ? [name.slice(1, -1)] : INDIRECT[name];
      if (metrics === undefined) unreadable.push(`${line(m.index)} ${m[0]}`);
      for (const metric of metrics ?? []) counters.push({ where: line(m.index), metric, labels });
    }
    // Any other `.inc(` on a metrics port would escape the check above.
    for (const m of text.matchAll(/\b(\w+(?:\.\w+)*)\.inc\(/g)) {
      if (!m[1]!.endsWith('metrics') && m[1] !== 'counter' && m[1] !== 'entry.counter') unreadable.push(`${line(m.index)} ${m[0]}`);
    }
    // gauges.<key>.set({ labels }, value) or .set(value).
    for (const m of text.matchAll(/gauges\.(\w+)\.set\(\s*(\{[^{}]*\})?/g)) {
      gauges.push({ where: line(m.index), metric: m[1]!, labels: labelsOf((m[2] ?? '{}').slice(1, -1)) });
    }
  }
  return { counters, gauges, unreadable };
}

const { counters, gauges, unreadable } = calls();

describe('metric call sites', () => {
  it('finds the call sites (the scan reads the source it means to)', () => {
    expect(counters.length).toBeGreaterThan(30);
    expect(gauges.length).toBeGreaterThan(8);
    expect(unreadable).toEqual([]);
  });

  it('every counter bump names a declared counter with exactly its labels, and only declared literal values', () => {
    const problems: string[] = [];
    for (const c of counters) {
      const spec = (COUNTERS as Record<string, { labels: Record<string, readonly string[] | string> } | undefined>)[c.metric];
      if (spec === undefined) {
        problems.push(`${c.where}: ${c.metric} is not declared`);
        continue;
      }
      const names = c.labels.map((l) => l.name).sort();
      if (names.join() !== Object.keys(spec.labels).sort().join()) problems.push(`${c.where}: ${c.metric} labels ${names.join()} are not ${Object.keys(spec.labels).join()}`);
      for (const l of c.labels) {
        const values = spec.labels[l.name];
        for (const v of l.literals) {
          // A label whose values come from the configuration (hosts, streams) has no literal in the source.
          if (!Array.isArray(values) || !values.includes(v)) problems.push(`${c.where}: ${c.metric}{${l.name}="${v}"} is not declared`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('every gauge set names a declared gauge with exactly its labels, and only declared literal values', () => {
    const problems: string[] = [];
    for (const g of gauges) {
      const spec = (GAUGES as Record<string, { labels: Record<string, readonly string[] | string> } | undefined>)[g.metric];
      if (spec === undefined) {
        problems.push(`${g.where}: gauge ${g.metric} is not declared`);
        continue;
      }
      const names = g.labels.map((l) => l.name).sort();
      if (names.join() !== Object.keys(spec.labels).sort().join()) problems.push(`${g.where}: ${g.metric} labels ${names.join()} are not ${Object.keys(spec.labels).join()}`);
      for (const l of g.labels) {
        const values = spec.labels[l.name];
        for (const v of l.literals) if (!Array.isArray(values) || !values.includes(v)) problems.push(`${g.where}: ${g.metric}{${l.name}="${v}"} is not declared`);
      }
    }
    expect(problems).toEqual([]);
  });
});
