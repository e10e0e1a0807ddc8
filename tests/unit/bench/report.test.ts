// The benchmark report: each suite keeps its latest run and the one before; the README and SVG say the ratio against
// the baseline of the same run and whether the figure moved since the previous run.
import { describe, expect, it } from 'vitest';
import { recordRun, renderReadme, renderSuiteSvg, type BenchResults } from '../../bench/report.ts';

const env = { cpu: 'Test CPU', cores: 2, memoryGb: 24, node: '22.0.0', platform: 'Linux x64', packages: { '@atproto/repo': '0.10.14' } };
const run = (value: number, at: string) => ({
  at, commit: 'abc1234',
  rows: [
    { name: 'ours', unit: 'records/s', value, ratio: value / 1000, baseline: '@atproto/repo' },
    { name: 'reference', unit: 'records/s', value: 1000, ratio: 1, baseline: '@atproto/repo' },
  ],
});

describe('benchmark report', () => {
  it('keeps the latest run and the one before it, per suite', () => {
    let results: BenchResults = { environment: env, suites: {} };
    results = recordRun(results, 'verify', run(2000, 't1'));
    results = recordRun(results, 'verify', run(3000, 't2'));
    results = recordRun(results, 'verify', run(4000, 't3'));
    expect(results.suites['verify']?.latest.at).toBe('t3');
    expect(results.suites['verify']?.previous?.at).toBe('t2');
  });

  it('writes the ratio, the baseline, the change since the previous run, the machine and the reference versions', () => {
    let results: BenchResults = { environment: env, suites: {} };
    results = recordRun(results, 'verify', run(2000, 't1'));
    results = recordRun(results, 'verify', run(3000, 't2'));
    const readme = renderReadme(results, ['decode', 'verify']);
    expect(readme).toContain('| ours | 3,000 records/s | 3.00x @atproto/repo | +50% |');
    expect(readme).toContain('Test CPU, 2 cores, 24 GB');
    expect(readme).toContain('`@atproto/repo@0.10.14`');
    expect(readme).toContain('![verify](verify.svg)');
    expect(readme).not.toContain('## decode');
  });

  it('draws one bar per row, longer for a larger ratio, with a mark at 1x', () => {
    const svg = renderSuiteSvg('verify', recordRun({ environment: env, suites: {} }, 'verify', run(8000, 't1')).suites['verify']!);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('8.00x');
    expect(svg).toContain('>1x</text>');
    const widths = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="16"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(2);
    expect(widths[0]!).toBeGreaterThan(widths[1]!);
  });
});
