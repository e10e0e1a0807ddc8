// tests/helpers/promql.ts reads lezer-promql's tree into the AST the rule and dashboard checks walk, and type-checks
// it: the shapes below (precedence, associativity, modifiers, where a range or an offset goes) and the refusals are
// what those checks rely on when promtool is not installed.
import { describe, expect, it } from 'vitest';
import { parsePromQL, typeOf, type Node } from '../../helpers/promql.ts';

/** The AST as a compact string: enough to see grouping and modifiers. */
function show(n: Node): string {
  switch (n.kind) {
    case 'number': return String(n.value);
    case 'string': return JSON.stringify(n.value);
    case 'selector': {
      const m = n.matchers.map((x) => `${x.label}${x.op}${JSON.stringify(x.value)}`).join(',');
      return `${n.name ?? ''}${m === '' ? '' : `{${m}}`}${n.range === undefined ? '' : `[${n.range}]`}${n.offset === undefined ? '' : ` offset ${n.offset}`}`;
    }
    case 'subquery': return `${show(n.expr)}[${n.range}:${n.step ?? ''}]`;
    case 'call': return `${n.fn}(${n.args.map(show).join(', ')})`;
    case 'aggregate': return `${n.op}${n.grouping === undefined ? '' : ` ${n.grouping.mode} (${n.grouping.labels.join(',')})`}(${n.param === undefined ? '' : `${show(n.param)}, `}${show(n.expr)})`;
    case 'binary': {
      const m = n.matching === undefined ? '' : ` ${n.matching.mode}(${n.matching.labels.join(',')})${n.matching.group === undefined ? '' : ` group_${n.matching.group.side}(${n.matching.group.labels.join(',')})`}`;
      return `(${show(n.left)} ${n.op}${n.bool ? ' bool' : ''}${m} ${show(n.right)})`;
    }
    case 'unary': return `${n.op}${show(n.expr)}`;
    case 'paren': return show(n.expr);
  }
}

describe('the PromQL parser the rule checks use', () => {
  it.each([
    ['a - b - c', '((a - b) - c)'],
    ['2 ^ 3 ^ 2', '(2 ^ (3 ^ 2))'],
    ['a or b and c unless d', '(a or ((b and c) unless d))'],
    ['a + b * c > bool 1', '((a + (b * c)) > bool 1)'],
    ['-(a) + 1', '(-a + 1)'],
    ['sum by (job) (rate(x_total{a="b",c=~"d|e"}[5m] offset 1m))', 'sum by (job)(rate(x_total{a="b",c=~"d|e"}[5m] offset 1m))'],
    ['sum(x) without (instance)', 'sum without (instance)(x)'],
    ['topk(3, x)', 'topk(3, x)'],
    ['count_values("v", x)', 'count_values("v", x)'],
    ['max_over_time(rate(x[1m])[1h:5m])', 'max_over_time(rate(x[1m])[1h:5m])'],
    ['a / on (job) group_left (team) b', '(a / on(job) group_left(team) b)'],
    ['histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))', 'histogram_quantile(0.99, sum by (le)(rate(x_bucket[5m])))'],
    ['{__name__="up", job!="x"}', '{__name__="up",job!="x"}'],
    ['label_replace(up, "a", "$1", "b", "(.*)")', 'label_replace(up, "a", "$1", "b", "(.*)")'],
    ["x{a='it\\'s'}", 'x{a="it\'s"}'],
  ])('reads %s as %s', (src, shape) => {
    expect(show(parsePromQL(src))).toBe(shape);
  });

  it('types what it reads', () => {
    expect(typeOf(parsePromQL('x[5m]'))).toBe('matrix');
    expect(typeOf(parsePromQL('1 + 2'))).toBe('scalar');
    expect(typeOf(parsePromQL('1 + x'))).toBe('vector');
    expect(typeOf(parsePromQL('scalar(x)'))).toBe('scalar');
    // A subquery of a function's result, step omitted.
    expect(typeOf(parsePromQL('rate(x[5m])[1h:]'))).toBe('matrix');
  });

  it.each([
    ['sum(rate(x[5m])', 'unexpected end'],
    ['rate(x[5 m])', 'syntax error'],
    ['increse(x[5m])', 'unknown function "increse"'],
    ['rate(x)', 'must be a range vector'],
    ['sum(x[5m])', 'aggregates an instant vector'],
    ['topk("3", x)', 'takes a scalar parameter'],
    ['a + bool b', 'bool is allowed only on comparisons'],
    ['1 > 2', 'needs bool'],
    ['a and 1', 'needs instant vectors on both sides'],
    ['a or on (x) group_left b', 'not allowed on set operators'],
    ['x[5m] + 1', 'needs scalars or instant vectors'],
    ['{a=""}', 'needs a metric name'],
    ['x{a=~"("}', 'bad regular expression'],
  ])('refuses %s', (src, problem) => {
    expect(() => parsePromQL(src)).toThrow(problem);
  });
});
