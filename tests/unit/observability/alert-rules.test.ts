// infra/prometheus/alerts.yml is what operators page on: each rule must be a well-formed Prometheus alerting rule whose
// expression names only metrics the app serves from start-up, with their labels and label values, whose annotations
// name only labels its result carries, and whose runbook is a heading of README.md. A renamed metric, label or reason
// then fails here rather than leave an alert that can never fire. Where promtool is installed (Debian's `prometheus`)
// the file also passes `promtool check rules`, and SCENARIOS below run through `promtool test rules` (series in, the
// alerts that fire out); without it, that assertion rests on the built-in PromQL parser (tests/helpers/promql.ts),
// which every other case here uses anyway.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { analyseExpr, catalogueOf, checkExpr, type Catalogue } from '../../helpers/promql-check.ts';
import { parsePromQL } from '../../helpers/promql.ts';
import { readmeAnchors } from '../../helpers/markdown-anchors.ts';

const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const RULES = path.join(ROOT, 'infra/prometheus/alerts.yml');

interface Rule {
  alert?: unknown;
  record?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  [key: string]: unknown;
}

const file = parse(readFileSync(RULES, 'utf8')) as { groups?: { name?: unknown; rules?: Rule[] }[] };
const groups = file.groups ?? [];
const rules = groups.flatMap((g) => g.rules ?? []);
const SEVERITIES = ['critical', 'warning', 'info'];
const DURATION = /^(?:\d+(?:ms|[smhdwy]))+$/;

/**
 * The registry as `skytide run` builds it (long-runners/cli/resources.ts): every stream, the configured relay and
 * labeler hosts and trusted sources, both kinds of state gauge. Hosts and sources are the operator's, so their values
 * are not held to these examples.
 */
async function appCatalogue(): Promise<Catalogue> {
  const { registry } = createMetrics({
    hosts: ['relay.example'], streams: Object.values(STREAMS), labelHosts: ['labeler.example'], labelSources: ['did:plc:trustedaaaaaaaaaaaaaaaaa'],
  });
  return catalogueOf(registry, { openLabels: ['host', 'src'] });
}

/** A series of a rule test, as promtool's input_series: expanding notation (`0+2x30`: 0, then 2 more each minute). */
interface Scenario {
  name: string;
  series: Record<string, string>;
  /** Per alert, when it is evaluated (minutes) and the label sets expected to fire then (none: it must not fire). */
  expect: { alert: string; at: number; fires: Record<string, string>[] }[];
}

const T = 'job="skytide",instance="a:3000"';
const SCENARIOS: Scenario[] = [
  {
    name: 'a hung task is paged at once',
    series: { [`skytide_tasks_stuck_total{${T}}`]: '0 0 0 1 1' },
    expect: [{ alert: 'SkytideTaskStuck', at: 4, fires: [{ severity: 'critical', job: 'skytide', instance: 'a:3000' }] }],
  },
  {
    name: 'a Postgres outage waited out for over 10 minutes pages; a Redis without waits does not',
    series: { [`skytide_outage_waits_total{${T},dependency="postgres"}`]: '0+2x40', [`skytide_outage_waits_total{${T},dependency="redis"}`]: '0x40' },
    expect: [
      { alert: 'SkytideStorageOutage', at: 5, fires: [] },
      { alert: 'SkytideStorageOutage', at: 20, fires: [{ severity: 'critical', dependency: 'postgres' }] },
    ],
  },
  {
    name: 'a process whose /ready fails for 5 minutes is paged; one that recovers within them is not',
    series: {
      [`skytide_ready{${T}}`]: '1 1 0x10',
      [`skytide_ready{job="skytide",instance="b:3000"}`]: '1 0 0 0 1x8',
    },
    expect: [
      { alert: 'SkytideProcessNotReady', at: 4, fires: [] },
      { alert: 'SkytideProcessNotReady', at: 9, fires: [{ severity: 'critical', job: 'skytide', instance: 'a:3000' }] },
    ],
  },
  {
    name: 'no process holds the relay\'s socket: disconnected, though a process that never subscribes shows frames at zero',
    series: {
      // The firehose process: connected, then its socket closes for good (it keeps retrying).
      [`skytide_firehose_connected{${T},host="relay.example"}`]: '1x5 0x40',
      [`skytide_firehose_frames_total{${T},host="relay.example",kind="sequenced"}`]: '0+50x5 250x40',
      // An index process: it never subscribes.
      [`skytide_firehose_connected{job="skytide",instance="b:3000",host="relay.example"}`]: '0x45',
      // Another relay, connected and streaming, on the same firehose process.
      [`skytide_firehose_connected{${T},host="live.example"}`]: '1x45',
      [`skytide_firehose_frames_total{${T},host="live.example",kind="sequenced"}`]: '0+50x45',
    },
    expect: [
      { alert: 'SkytideFirehoseDisconnected', at: 10, fires: [] },
      { alert: 'SkytideFirehoseDisconnected', at: 17, fires: [{ severity: 'critical', host: 'relay.example' }] },
    ],
  },
  {
    name: 'frames read while the cursor stays: the cursor stalls, the firehose is not disconnected',
    series: {
      [`skytide_firehose_connected{${T},host="relay.example"}`]: '1x60',
      [`skytide_firehose_cursor{${T},host="relay.example"}`]: '100x60',
      [`skytide_firehose_frames_total{${T},host="relay.example",kind="sequenced"}`]: '0+50x60',
    },
    expect: [
      { alert: 'SkytideFirehoseCursorStalled', at: 40, fires: [{ severity: 'critical', host: 'relay.example' }] },
      { alert: 'SkytideFirehoseDisconnected', at: 40, fires: [] },
    ],
  },
  {
    name: 'no frame at all: disconnected; a cursor that moves with its frames: nothing',
    series: {
      [`skytide_firehose_frames_total{${T},host="gone.example",kind="sequenced"}`]: '0x60',
      [`skytide_firehose_frames_total{${T},host="live.example",kind="sequenced"}`]: '0+50x60',
      [`skytide_firehose_cursor{${T},host="live.example"}`]: '0+50x60',
      // The socket to gone.example is open; nothing comes on it.
      [`skytide_firehose_connected{${T},host="gone.example"}`]: '1x60',
      [`skytide_firehose_connected{${T},host="live.example"}`]: '1x60',
    },
    expect: [
      { alert: 'SkytideFirehoseDisconnected', at: 40, fires: [{ severity: 'critical', host: 'gone.example' }] },
      { alert: 'SkytideFirehoseCursorStalled', at: 40, fires: [] },
    ],
  },
  {
    name: 'dead letters of a live stream, by stream and reason; parked labels set aside are not paged as such',
    series: {
      [`skytide_dead_letters_total{${T},stream="firehose_live",reason="invalid_syntax"}`]: '0 0 3 3 3',
      [`skytide_dead_letters_total{${T},stream="firehose_live",reason="handler_error"}`]: '0x4',
      [`skytide_dead_letters_total{${T},stream="label_live",reason="invalid_parked_entry"}`]: '0 0 2 2 2',
    },
    expect: [{ alert: 'SkytideDeadLetters', at: 4, fires: [{ severity: 'warning', stream: 'firehose_live', reason: 'invalid_syntax' }] }],
  },
  {
    name: 'over 100 repos dead-lettered in an hour for one reason',
    series: {
      [`skytide_dead_letters_total{${T},stream="repo_backfill",reason="fetch_failed"}`]: '0+5x60',
      [`skytide_dead_letters_total{${T},stream="repo_backfill",reason="bad_signature"}`]: '0+1x60',
    },
    expect: [{ alert: 'SkytideBackfillDeadLetters', at: 60, fires: [{ severity: 'warning', reason: 'fetch_failed' }] }],
  },
  {
    name: 'a stream that holds entries nobody settles stalls; one whose entries are settled does not',
    series: {
      [`skytide_stream_length{${T},stream="label_live"}`]: '50x60',
      [`skytide_consumer_entries_total{${T},stream="label_live",outcome="ok"}`]: '0x60',
      [`skytide_stream_length{${T},stream="firehose_live"}`]: '50x60',
      [`skytide_consumer_entries_total{${T},stream="firehose_live",outcome="ok"}`]: '0+100x60',
    },
    expect: [{ alert: 'SkytideConsumerStalled', at: 45, fires: [{ severity: 'critical', stream: 'label_live' }] }],
  },
  {
    name: 'labels parked by the thousand for an hour; another labeler\'s, released in time, are not paged',
    series: {
      [`skytide_parked_labels{${T},host="labeler.example"}`]: '0+500x120',
      [`skytide_parked_labels{${T},host="other.example"}`]: '0+500x30 0x90',
    },
    expect: [
      { alert: 'SkytideLabelsParkedNotReleased', at: 70, fires: [] },
      { alert: 'SkytideLabelsParkedNotReleased', at: 100, fires: [{ severity: 'warning', host: 'labeler.example' }] },
    ],
  },
  {
    name: 'a labeler whose frames come while its cursor stays stalls; a disconnected one is paged after 30 minutes',
    series: {
      [`skytide_label_subscription_connected{${T},host="labeler.example"}`]: '1x60',
      [`skytide_label_cursor{${T},host="labeler.example"}`]: '40x60',
      [`skytide_label_frames_total{${T},host="labeler.example",kind="sequenced"}`]: '0+5x60',
      [`skytide_label_subscription_connected{${T},host="gone.example"}`]: '0x60',
      [`skytide_label_cursor{${T},host="gone.example"}`]: '7x60',
      [`skytide_label_frames_total{${T},host="gone.example",kind="sequenced"}`]: '0x60',
    },
    expect: [
      { alert: 'SkytideLabelCursorStalled', at: 40, fires: [{ severity: 'critical', host: 'labeler.example' }] },
      { alert: 'SkytideLabelSubscriptionDisconnected', at: 20, fires: [] },
      { alert: 'SkytideLabelSubscriptionDisconnected', at: 40, fires: [{ severity: 'warning', host: 'gone.example' }] },
    ],
  },
  {
    name: 'waits found under a relay no longer configured',
    series: { [`skytide_identity_waits_unconfigured_total{${T}}`]: '3x10' },
    expect: [{ alert: 'SkytideIdentityWaitsUnconfiguredRelay', at: 8, fires: [{ severity: 'warning' }] }],
  },
  {
    name: 'everything at zero from start-up pages nothing',
    series: {
      [`skytide_tasks_stuck_total{${T}}`]: '0x60',
      [`skytide_stream_length{${T},stream="repo_backfill"}`]: '0x60',
      [`skytide_consumer_entries_total{${T},stream="repo_backfill",outcome="ok"}`]: '0x60',
      [`skytide_sweep_skipped_ranges{${T},host="relay.example"}`]: '0x60',
      [`skytide_identity_waits_unconfigured_total{${T}}`]: '0x60',
      [`skytide_dead_letters_total{${T},stream="firehose_live",reason="invalid_event"}`]: '0x60',
      [`skytide_parked_labels{${T},host="labeler.example"}`]: '0x60',
      [`skytide_ready{${T}}`]: '1x60',
      [`up{${T}}`]: '1x60',
    },
    expect: ['SkytideTaskStuck', 'SkytideBackfillNotDraining', 'SkytideSweepSkippedRanges', 'SkytideIdentityWaitsUnconfiguredRelay', 'SkytideProcessDown', 'SkytideProcessRestarting',
      'SkytideProcessNotReady', 'SkytideDeadLetters', 'SkytideLabelsParkedNotReleased']
      .map((alert) => ({ alert, at: 60, fires: [] })),
  },
];

/**
 * Runs the scenarios with `promtool test rules` against a copy of the rules without their annotations (promtool
 * compares annotations whole; their templates are checked by `promtool check rules`).
 */
function runScenarios(): SpawnSyncReturns<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'skytide-alerts-'));
  try {
    const bare = { groups: groups.map((g) => ({ ...g, rules: (g.rules ?? []).map(({ annotations: _, ...rule }) => rule) })) };
    writeFileSync(path.join(dir, 'rules.yml'), stringify(bare));
    const tests = {
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: SCENARIOS.map((s) => ({
        name: s.name,
        interval: '1m',
        input_series: Object.entries(s.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: s.expect.map((e) => ({ eval_time: `${e.at}m`, alertname: e.alert, exp_alerts: e.fires.map((labels) => ({ exp_labels: labels })) })),
      })),
    };
    writeFileSync(path.join(dir, 'tests.yml'), stringify(tests));
    return spawnSync('promtool', ['test', 'rules', 'tests.yml'], { encoding: 'utf8', cwd: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function promtool(): string | undefined {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.split('\n')[0] : undefined;
}

describe('infra/prometheus/alerts.yml', () => {
  let catalogue: Catalogue;
  beforeAll(async () => {
    catalogue = await appCatalogue();
  });

  it('is groups of alerting rules, each with a unique name, an expression, a duration, a severity and its annotations', () => {
    expect(groups.length).toBeGreaterThan(0);
    expect(new Set(groups.map((g) => g.name)).size).toBe(groups.length);
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size, 'alert names are unique').toBe(names.length);
    for (const group of groups) {
      expect(Object.keys(group).sort()).toEqual(['name', 'rules']);
      expect(typeof group.name).toBe('string');
      expect(group.rules?.length, String(group.name)).toBeGreaterThan(0);
    }
    for (const rule of rules) {
      const name = String(rule.alert);
      expect(rule.record, name).toBeUndefined();
      expect(name).toMatch(/^Skytide[A-Z][A-Za-z]+$/);
      expect(Object.keys(rule).filter((k) => !['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(k)), name).toEqual([]);
      expect(typeof rule.expr, name).toBe('string');
      if (rule.for !== undefined) expect(String(rule.for), name).toMatch(DURATION);
      expect(Object.keys(rule.labels ?? {}), name).toEqual(['severity']);
      expect(SEVERITIES, name).toContain(rule.labels?.['severity']);
      expect(Object.keys(rule.annotations ?? {}).sort(), name).toEqual(['description', 'runbook_url', 'summary']);
      for (const [key, text] of Object.entries(rule.annotations ?? {})) {
        expect(typeof text === 'string' && text.trim().length > 0, `${name} ${key}`).toBe(true);
      }
      // The description says why it matters and what to do: more than a restated summary.
      expect(String(rule.annotations?.['description']).length, name).toBeGreaterThan(120);
    }
  });

  it('names only metrics of the registry the app builds at start-up, with their labels and label values', () => {
    const problems = rules.flatMap((r) => checkExpr(String(r.expr), catalogue).map((p) => `${String(r.alert)}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('uses in its annotations only labels that the alert\'s result carries', () => {
    const problems: string[] = [];
    for (const rule of rules) {
      const { labels } = analyseExpr(String(rule.expr), catalogue);
      for (const text of Object.values(rule.annotations ?? {})) {
        for (const m of String(text).matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) {
          if (labels === undefined || !labels.has(m[1]!)) problems.push(`${String(rule.alert)}: $labels.${m[1]} is not a label of its result`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('points every runbook at a heading of README.md', () => {
    const anchors = readmeAnchors(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    for (const rule of rules) {
      const url = String(rule.annotations?.['runbook_url']);
      expect(url, String(rule.alert)).toMatch(/^README\.md#[a-z0-9-]+$/);
      expect(anchors, `${String(rule.alert)}: ${url}`).toContain(url.slice('README.md#'.length));
    }
  });

  it('covers what README.md says to watch: readiness, stuck tasks, outages, connections, cursors, lag, dead letters, sweeps, identity waits, labels', () => {
    const used = new Set(rules.flatMap((r) => [...String(r.expr).matchAll(/\b(skytide_[a-z_]+|up)\b/g)].map((m) => m[1]!)));
    for (const metric of [
      'skytide_tasks_stuck_total', 'up', 'skytide_outage_waits_total', 'skytide_firehose_cursor', 'skytide_firehose_frames_total',
      'skytide_firehose_errors_total', 'skytide_stream_length', 'skytide_stream_pending', 'skytide_consumer_entries_total',
      'skytide_sweep_skipped_ranges', 'skytide_sweep_problems_total', 'skytide_identity_waiting_dids', 'skytide_identity_waits_total',
      'skytide_identity_waits_unconfigured_total', 'skytide_label_frames_total', 'skytide_labels_rejected_total',
      // The state the rules once had to infer: readiness, the sockets, the label cursor, parked labels, letters by reason.
      'skytide_ready', 'skytide_firehose_connected', 'skytide_label_subscription_connected', 'skytide_label_cursor',
      'skytide_parked_labels', 'skytide_dead_letters_total',
    ]) {
      expect(used, metric).toContain(metric);
    }
  });

  it('passes promtool check rules and its rule tests where promtool is installed, else the built-in PromQL parse', () => {
    const version = promtool();
    if (version !== undefined) {
      const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
      expect(check.status, `${version}\n${check.stdout}${check.stderr}`).toBe(0);
      expect(check.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
      const tests = runScenarios();
      expect(tests.status, `${tests.stdout}${tests.stderr}`).toBe(0);
      expect(tests.stdout).toContain('SUCCESS');
    } else {
      // No promtool here: the built-in parser's syntax and type checks stand in (every expression, strictly).
      for (const rule of rules) expect(() => parsePromQL(String(rule.expr)), String(rule.alert)).not.toThrow();
    }
  });
});

describe('the checks above catch a broken rule', () => {
  let catalogue: Catalogue;
  beforeAll(async () => {
    catalogue = await appCatalogue();
  });

  it.each([
    ['a metric name with a typo', 'increase(skytide_task_stuck_total[5m]) > 0', 'no metric "skytide_task_stuck_total"'],
    ['a label the metric does not have', 'sum by (stream) (rate(skytide_firehose_errors_total{reson="bad_signature"}[5m]))', 'has no label "reson"'],
    ['a label value never registered', 'rate(skytide_consumer_entries_total{outcome="dead_letter"}[5m])', 'never takes "dead_letter"'],
    ['a regex alternative never registered', 'rate(skytide_outage_waits_total{dependency=~"postgres|redsi"}[5m])', 'never takes "redsi"'],
    ['grouping by a label the series lack', 'sum by (host) (increase(skytide_outage_waits_total[5m])) > 0', '"host" is not a label of what it aggregates'],
    ['grouping by a label an inner aggregation dropped', 'max by (host) (sum by (kind) (rate(skytide_firehose_frames_total[5m])))', '"host" is not a label'],
    ['on() a label one side lacks', 'sum by (host) (rate(skytide_firehose_frames_total[5m])) and on (stream) max by (stream) (skytide_stream_length)', 'on (stream)'],
    ['sides that cannot match', 'sum by (host) (rate(skytide_firehose_frames_total[5m])) / sum(rate(skytide_firehose_frames_total[5m]))', 'its sides differ'],
    ['rate() of a gauge', 'rate(skytide_stream_length[5m])', 'rate() of skytide_stream_length, a gauge'],
    ['delta() of a counter', 'delta(skytide_tasks_stuck_total[5m])', 'delta() of skytide_tasks_stuck_total, a counter'],
    ['an instant vector where a range is due', 'rate(skytide_tasks_stuck_total) > 0', 'must be a range vector'],
    ['an unbalanced parenthesis', 'sum(rate(skytide_tasks_stuck_total[5m]) > 0', 'does not parse'],
    ['an unknown function', 'increse(skytide_tasks_stuck_total[5m])', 'unknown function'],
    ['a bad duration', 'rate(skytide_tasks_stuck_total[5 m])', 'does not parse'],
  ])('%s', (_what, expr, problem) => {
    expect(checkExpr(expr, catalogue).join('\n')).toContain(problem);
  });

  it('finds the `_bucket`, `_sum` and `_count` series of a histogram, and `le` on its buckets only', async () => {
    const { Histogram, Registry } = await import('prom-client');
    const registry = new Registry();
    new Histogram({ name: 'demo_seconds', help: 'h', labelNames: ['stream'], registers: [registry] });
    const histogram = await catalogueOf(registry);
    expect(checkExpr('histogram_quantile(0.9, sum by (le, stream) (rate(demo_seconds_bucket[5m])))', histogram)).toEqual([]);
    expect(checkExpr('sum(rate(demo_seconds_sum[5m])) / sum(rate(demo_seconds_count[5m]))', histogram)).toEqual([]);
    expect(checkExpr('rate(demo_seconds[5m])', histogram).join()).toContain('no metric "demo_seconds"');
    expect(checkExpr('sum by (le) (rate(demo_seconds_count[5m]))', histogram).join()).toContain('"le" is not a label');
  });

  it('finds a runbook that is no heading', () => {
    expect(readmeAnchors('# A\n### Runbook: tasks stuck or restarting\n`#` in code\n')).toEqual(['a', 'runbook-tasks-stuck-or-restarting']);
  });
});
