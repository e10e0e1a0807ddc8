// The benchmark report a person can read: `npm run bench` keeps every suite's latest figures (and the run before,
// to show whether a change made things faster) in report/results.json, and renders report/README.md plus one SVG
// chart per suite from it. Rendering is pure: results in, text out; run.ts does the file I/O.
import type { BenchRow } from './types.ts';

export interface SuiteRun {
  /** ISO time the suite finished. */
  at: string;
  commit: string;
  rows: BenchRow[];
}

export interface SuiteHistory {
  latest: SuiteRun;
  previous?: SuiteRun;
}

export interface Environment {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  platform: string;
  /** Versions of the packages measured against (the references). */
  packages: Record<string, string>;
}

export interface BenchResults {
  environment: Environment;
  suites: Record<string, SuiteHistory>;
}

/** Adds a suite's new run, keeping the latest one before it for comparison. */
export function recordRun(results: BenchResults, suite: string, run: SuiteRun): BenchResults {
  const before = results.suites[suite];
  const history: SuiteHistory = before === undefined ? { latest: run } : { latest: run, previous: before.latest };
  return { ...results, suites: { ...results.suites, [suite]: history } };
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function formatNumber(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

/** Ratios span 0.5x to 50x: a log scale keeps 1x in the middle and every bar readable. */
const TICKS = [0.25, 0.5, 1, 2, 5, 10, 20, 50, 100];

/** One horizontal bar per measured row: its ratio against the suite's baseline, with the previous run as a thin bar. */
export function renderSuiteSvg(name: string, history: SuiteHistory): string {
  const rows = history.latest.rows.filter((r) => r.ratio !== undefined);
  const previous = new Map((history.previous?.rows ?? []).map((r) => [r.name, r.ratio]));
  const maxRatio = Math.max(2, ...rows.map((r) => r.ratio ?? 1), ...[...previous.values()].map((r) => r ?? 1));
  const minRatio = Math.min(0.5, ...rows.map((r) => r.ratio ?? 1));
  const ticks = TICKS.filter((t) => t >= minRatio / 1.5 && t <= maxRatio * 1.5);
  const lo = Math.log(ticks[0] ?? 0.5);
  const hi = Math.log(ticks.at(-1) ?? maxRatio);
  const labelWidth = 380;
  const plotWidth = 360;
  const rowHeight = 30;
  const top = 46;
  const width = labelWidth + plotWidth + 90;
  const height = top + rows.length * rowHeight + 40;
  const x = (ratio: number) => labelWidth + ((Math.log(Math.max(ratio, 1e-3)) - lo) / (hi - lo)) * plotWidth;
  const baseline = rows[0]?.baseline ?? 'baseline';
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escapeXml(`${name}: ratio against ${baseline} (same run, round-robin)`)}</text>`,
    `<text x="10" y="36" fill="#555">${escapeXml(`${history.latest.at} · ${history.latest.commit}${history.previous === undefined ? '' : ` · thin bar: previous run ${history.previous.commit}`}`)}</text>`,
  ];
  for (const t of ticks) {
    const tx = x(t).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${height - 30}" stroke="${t === 1 ? '#333' : '#ddd'}" stroke-width="${t === 1 ? 1.5 : 1}"/>`);
    parts.push(`<text x="${tx}" y="${height - 14}" text-anchor="middle" fill="#555">${t}x</text>`);
  }
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    const ratio = row.ratio ?? 1;
    const x0 = x(Math.min(1, ratio));
    const x1 = x(Math.max(1, ratio));
    const colour = ratio >= 1 ? '#2a7ab9' : '#c0504d';
    parts.push(`<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(row.name.length > 58 ? `${row.name.slice(0, 56)}…` : row.name)}</text>`);
    parts.push(`<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="16" fill="${colour}"/>`);
    const before = previous.get(row.name);
    if (before !== undefined) {
      const p0 = x(Math.min(1, before));
      const p1 = x(Math.max(1, before));
      parts.push(`<rect x="${p0.toFixed(1)}" y="${y + 22}" width="${Math.max(1, p1 - p0).toFixed(1)}" height="3" fill="#999"/>`);
    }
    parts.push(`<text x="${(x1 + 6).toFixed(1)}" y="${y + 16}" fill="#222">${ratio.toFixed(2)}x</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function change(row: BenchRow, previous: BenchRow | undefined): string {
  if (previous === undefined || previous.value === 0) return 'new';
  const delta = row.value / previous.value - 1;
  // The machine drifts by up to 2x between sessions: only the ratio column compares like with like.
  return `${delta >= 0 ? '+' : ''}${(delta * 100).toFixed(0)}%`;
}

export function renderReadme(results: BenchResults, order: readonly string[]): string {
  const env = results.environment;
  const lines: string[] = [
    '# Benchmark report',
    '',
    'Written by `npm run bench` (`npm run bench -- <suite>` runs one suite and keeps the others\' last figures). Every',
    'figure is measured next to its baseline in the same run, round-robin, so a slow stretch of this shared machine hits',
    'both alike: compare the **ratio** column across runs, not the absolute numbers, which drift by up to 2x between',
    'sessions on the same hardware. "vs previous" compares the absolute figure with the run before it.',
    '',
    `Machine: ${env.cpu}, ${env.cores} cores, ${env.memoryGb} GB; ${env.platform}; Node ${env.node}.`,
    '',
    `References: ${Object.entries(env.packages).map(([p, v]) => `\`${p}@${v}\``).join(', ')}.`,
    '',
  ];
  for (const name of order) {
    const history = results.suites[name];
    if (history === undefined) continue;
    const previous = new Map((history.previous?.rows ?? []).map((r) => [r.name, r]));
    lines.push(`## ${name}`, '', `![${name}](${name}.svg)`, '', `Run ${history.latest.at} at \`${history.latest.commit}\`.`, '');
    lines.push('| what | result | ratio | vs previous | note |', '| --- | --- | --- | --- | --- |');
    for (const row of history.latest.rows) {
      const ratio = row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}x ${row.baseline ?? 'baseline'}`;
      lines.push(`| ${row.name} | ${formatNumber(row.value)} ${row.unit} | ${ratio} | ${change(row, previous.get(row.name))} | ${row.note ?? ''} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
