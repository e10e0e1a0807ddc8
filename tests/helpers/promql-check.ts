// Holds a PromQL expression to the metrics a registry serves: every metric it names exists (a histogram's or summary's
// `_bucket`/`_sum`/`_count` series included), every label it matches, groups or matches vectors on is one the series
// under it carry, every label value it names exactly (or as a regex of plain alternatives) is one the app registers at
// start-up, and counters are read with rate-like functions, gauges with delta-like ones.
import type { Registry } from 'prom-client';
import { parsePromQL, typeOf, type Matcher, type Node } from './promql.ts';

export interface CatalogueEntry {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  labels: Set<string>;
  /** Per label, the values series carry at start-up; a label absent here takes values nobody can list in advance. */
  values: Map<string, Set<string>>;
}

export type Catalogue = Map<string, CatalogueEntry>;

/** Labels Prometheus adds to every series it scrapes (the scrape target's). */
export const TARGET_LABELS = ['job', 'instance'] as const;

/**
 * Series Prometheus writes itself for every scrape target, not served by the app: only `up` (1 when the scrape
 * succeeded). Anything else named in a rule must be in the registry.
 */
const SCRAPE_SERIES: Catalogue = new Map([['up', { type: 'gauge', labels: new Set(TARGET_LABELS), values: new Map() }]]);

/** Every series name a registry serves, with its type, label names and the label values present at start-up. */
export async function catalogueOf(registry: Registry, options: { openLabels?: readonly string[] } = {}): Promise<Catalogue> {
  const out: Catalogue = new Map(SCRAPE_SERIES);
  const open = new Set(options.openLabels ?? []);
  const shown = await registry.getMetricsAsJSON();
  for (const metric of registry.getMetricsAsArray()) {
    const m = metric as unknown as { name: string; labelNames: readonly string[] };
    const json = shown.find((s) => s.name === m.name);
    const type = (json?.type ?? 'untyped') as CatalogueEntry['type'];
    const values = new Map<string, Set<string>>();
    for (const label of m.labelNames) if (!open.has(label)) values.set(label, new Set());
    for (const v of json?.values ?? []) {
      for (const [label, value] of Object.entries(v.labels)) values.get(label)?.add(String(value));
    }
    const labels = new Set([...m.labelNames, ...TARGET_LABELS]);
    if (type === 'histogram') {
      out.set(`${m.name}_bucket`, { type: 'counter', labels: new Set([...labels, 'le']), values });
      out.set(`${m.name}_sum`, { type: 'counter', labels, values });
      out.set(`${m.name}_count`, { type: 'counter', labels, values });
    } else if (type === 'summary') {
      out.set(m.name, { type: 'gauge', labels: new Set([...labels, 'quantile']), values });
      out.set(`${m.name}_sum`, { type: 'counter', labels, values });
      out.set(`${m.name}_count`, { type: 'counter', labels, values });
    } else {
      out.set(m.name, { type, labels, values });
    }
  }
  return out;
}

/** Functions meant for counters (they handle resets), and those meant for gauges (they do not). */
const COUNTER_FUNCTIONS = new Set(['rate', 'irate', 'increase', 'resets']);
const GAUGE_FUNCTIONS = new Set(['delta', 'idelta', 'deriv', 'predict_linear']);

/** A regex made only of literal alternatives (`a|b|c`): its alternatives; otherwise undefined. */
function literalAlternatives(regex: string): string[] | undefined {
  return /^[A-Za-z0-9_\-/:]+(?:\|[A-Za-z0-9_\-/:]+)*$/.test(regex) ? regex.split('|') : undefined;
}

/** The label names a node's result may carry, or undefined where they cannot be known (a scalar). */
type Labels = Set<string> | undefined;

/** What is wrong with `expr` against `catalogue`: empty when nothing is. Syntax and type errors come first, alone. */
export function checkExpr(expr: string, catalogue: Catalogue): string[] {
  return analyseExpr(expr, catalogue).problems;
}

/** The problems of `expr` and the labels its result carries (undefined for a scalar or an expression that failed). */
export function analyseExpr(expr: string, catalogue: Catalogue): { problems: string[]; labels: Labels } {
  let root: Node;
  try {
    root = parsePromQL(expr);
  } catch (err) {
    return { problems: [`does not parse: ${(err as Error).message}`], labels: undefined };
  }
  const problems: string[] = [];
  const has = (labels: Labels, label: string) => labels === undefined || labels.has(label);

  const checkMatcher = (name: string, entry: CatalogueEntry, m: Matcher) => {
    if (m.label === '__name__') return;
    if (!entry.labels.has(m.label)) {
      problems.push(`${name} has no label "${m.label}" (it has: ${[...entry.labels].join(', ')})`);
      return;
    }
    const known = entry.values.get(m.label);
    if (known === undefined) return;
    const named = m.op === '=' || m.op === '!=' ? [m.value] : literalAlternatives(m.value);
    for (const value of named ?? []) {
      if (value !== '' && !known.has(value)) problems.push(`${name}{${m.label}} never takes "${value}" (it takes: ${[...known].join(', ')})`);
    }
  };

  /** Checks `node` and returns the labels of its result; `within` is the function it is an argument of. */
  const visit = (node: Node, within?: string): Labels => {
    switch (node.kind) {
      case 'number':
      case 'string':
        return undefined;
      case 'selector': {
        const nameMatcher = node.matchers.find((m) => m.label === '__name__' && m.op === '=');
        const name = node.name ?? nameMatcher?.value;
        if (name === undefined) {
          problems.push('a selector without a metric name cannot be checked');
          return undefined;
        }
        const entry = catalogue.get(name);
        if (entry === undefined) {
          problems.push(`no metric "${name}" in the registry`);
          return undefined;
        }
        for (const m of node.matchers) checkMatcher(name, entry, m);
        if (within !== undefined && COUNTER_FUNCTIONS.has(within) && entry.type !== 'counter') problems.push(`${within}() of ${name}, a ${entry.type}: use delta() or deriv()`);
        if (within !== undefined && GAUGE_FUNCTIONS.has(within) && entry.type === 'counter') problems.push(`${within}() of ${name}, a counter: use rate() or increase()`);
        return new Set(entry.labels);
      }
      case 'subquery':
        return visit(node.expr);
      case 'paren':
      case 'unary':
        return visit(node.expr, node.kind === 'paren' ? within : undefined);
      case 'call': {
        const argLabels = node.args.map((a) => visit(a, node.fn));
        const first = node.args.findIndex((a) => typeOf(a) === 'vector' || typeOf(a) === 'matrix');
        if (node.fn === 'label_replace' && argLabels[0] !== undefined) {
          const dst = node.args[1];
          return new Set([...argLabels[0], ...(dst?.kind === 'string' ? [dst.value] : [])]);
        }
        if (node.fn === 'vector' || node.fn === 'time' || node.fn === 'scalar') return node.fn === 'vector' ? new Set() : undefined;
        return first === -1 ? undefined : argLabels[first];
      }
      case 'aggregate': {
        if (node.param !== undefined) visit(node.param);
        const inner = visit(node.expr);
        const grouping = node.grouping;
        if (grouping === undefined) return new Set();
        for (const label of grouping.labels) {
          if (!has(inner, label)) problems.push(`${node.op} ${grouping.mode} (${grouping.labels.join(', ')}): "${label}" is not a label of what it aggregates`);
        }
        if (grouping.mode === 'by') return new Set(grouping.labels);
        return new Set([...(inner ?? [])].filter((l) => !grouping.labels.includes(l)));
      }
      case 'binary': {
        const left = visit(node.left);
        const right = visit(node.right);
        if (typeOf(node.left) !== 'vector' || typeOf(node.right) !== 'vector') return left ?? right;
        const m = node.matching;
        if (m === undefined) {
          // Without on()/ignoring(), samples match on all their labels: sides that differ match nothing (`or` adds).
          if (node.op !== 'or' && left !== undefined && right !== undefined) {
            const a = [...left].sort().join(',');
            const b = [...right].sort().join(',');
            if (a !== b) problems.push(`"${node.op}" matches on all labels, and its sides differ ({${a}} and {${b}}): use on() or aggregate both`);
          }
        } else if (m.mode === 'on') {
          for (const label of m.labels) {
            if (!has(left, label) || !has(right, label)) problems.push(`on (${m.labels.join(', ')}): "${label}" is not a label of both sides`);
          }
        } else {
          for (const label of m.labels) {
            if (!has(left, label) && !has(right, label)) problems.push(`ignoring (${m.labels.join(', ')}): "${label}" is a label of neither side`);
          }
        }
        if (m?.group !== undefined) {
          const other = m.group.side === 'left' ? right : left;
          for (const label of m.group.labels) if (!has(other, label)) problems.push(`group_${m.group.side} (${label}): not a label of the other side`);
          const own = m.group.side === 'left' ? left : right;
          return new Set([...(own ?? []), ...m.group.labels]);
        }
        if (node.op === 'or') return new Set([...(left ?? []), ...(right ?? [])]);
        return left;
      }
    }
  };
  const labels = visit(root);
  return { problems, labels };
}
