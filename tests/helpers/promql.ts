// PromQL for the tests that hold rule files and dashboards to the app's metrics. The syntax is Prometheus's own
// grammar, `@prometheus-io/lezer-promql` (the parser of Prometheus's web UI): its tree is read into a small AST, which
// is then type-checked as Prometheus's engine does (what a function takes, what an operator allows), so a rule with a
// typo in its syntax or its types fails here without Prometheus installed. Where promtool is present the tests run it
// too.
import { parser } from '@prometheus-io/lezer-promql';

/** A node of lezer's syntax tree (`@lezer/common`'s SyntaxNode, named through the parser so no other package is imported). */
type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export type ValueType = 'scalar' | 'string' | 'vector' | 'matrix';

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Grouping {
  mode: 'by' | 'without';
  labels: string[];
}

export interface VectorMatching {
  mode: 'on' | 'ignoring';
  labels: string[];
  group?: { side: 'left' | 'right'; labels: string[] };
}

export type Node =
  | { kind: 'number'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'selector'; name: string | undefined; matchers: Matcher[]; range?: string; offset?: string }
  | { kind: 'subquery'; expr: Node; range: string; step?: string }
  | { kind: 'call'; fn: string; args: Node[] }
  | { kind: 'aggregate'; op: string; grouping?: Grouping; param?: Node; expr: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node; bool: boolean; matching?: VectorMatching }
  | { kind: 'unary'; op: '-' | '+'; expr: Node }
  | { kind: 'paren'; expr: Node };

export class PromQLError extends Error {}

/** Functions by name: the types of their arguments (trailing `?` optional, `...` repeats the last) and of the result. */
export const FUNCTIONS: Record<string, { args: string[]; returns: ValueType }> = {
  abs: { args: ['vector'], returns: 'vector' },
  absent: { args: ['vector'], returns: 'vector' },
  absent_over_time: { args: ['matrix'], returns: 'vector' },
  avg_over_time: { args: ['matrix'], returns: 'vector' },
  ceil: { args: ['vector'], returns: 'vector' },
  changes: { args: ['matrix'], returns: 'vector' },
  clamp: { args: ['vector', 'scalar', 'scalar'], returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], returns: 'vector' },
  count_over_time: { args: ['matrix'], returns: 'vector' },
  delta: { args: ['matrix'], returns: 'vector' },
  deriv: { args: ['matrix'], returns: 'vector' },
  exp: { args: ['vector'], returns: 'vector' },
  floor: { args: ['vector'], returns: 'vector' },
  histogram_quantile: { args: ['scalar', 'vector'], returns: 'vector' },
  idelta: { args: ['matrix'], returns: 'vector' },
  increase: { args: ['matrix'], returns: 'vector' },
  irate: { args: ['matrix'], returns: 'vector' },
  label_join: { args: ['vector', 'string', 'string', 'string...'], returns: 'vector' },
  label_replace: { args: ['vector', 'string', 'string', 'string', 'string'], returns: 'vector' },
  last_over_time: { args: ['matrix'], returns: 'vector' },
  ln: { args: ['vector'], returns: 'vector' },
  log10: { args: ['vector'], returns: 'vector' },
  log2: { args: ['vector'], returns: 'vector' },
  max_over_time: { args: ['matrix'], returns: 'vector' },
  min_over_time: { args: ['matrix'], returns: 'vector' },
  predict_linear: { args: ['matrix', 'scalar'], returns: 'vector' },
  present_over_time: { args: ['matrix'], returns: 'vector' },
  quantile_over_time: { args: ['scalar', 'matrix'], returns: 'vector' },
  rate: { args: ['matrix'], returns: 'vector' },
  resets: { args: ['matrix'], returns: 'vector' },
  round: { args: ['vector', 'scalar?'], returns: 'vector' },
  scalar: { args: ['vector'], returns: 'scalar' },
  sgn: { args: ['vector'], returns: 'vector' },
  sort: { args: ['vector'], returns: 'vector' },
  sort_desc: { args: ['vector'], returns: 'vector' },
  sqrt: { args: ['vector'], returns: 'vector' },
  stddev_over_time: { args: ['matrix'], returns: 'vector' },
  sum_over_time: { args: ['matrix'], returns: 'vector' },
  time: { args: [], returns: 'scalar' },
  timestamp: { args: ['vector'], returns: 'vector' },
  vector: { args: ['scalar'], returns: 'vector' },
};

export const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile']);
const PARAMETRIC = new Set(['count_values', 'bottomk', 'topk', 'quantile']);
const COMPARISONS = new Set(['==', '!=', '>', '<', '>=', '<=']);
const SET_OPS = new Set(['and', 'or', 'unless']);
const MATCH_OPS = new Set(['=', '!=', '=~', '!~']);

/** A string literal's value: Go's quoting, as PromQL takes it (backquotes are raw). */
function unquote(text: string): string {
  const q = text[0];
  const body = text.slice(1, -1);
  if (q === '`') return body;
  return body.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[0-7]{3}|.)/g, (_, e: string) => {
    if (e.length > 1) return String.fromCharCode(parseInt(e[0] === 'u' || e[0] === 'x' ? e.slice(1) : e, e[0] === 'u' || e[0] === 'x' ? 16 : 8));
    return ({ n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v' } as Record<string, string>)[e] ?? e;
  });
}

/** Parses one PromQL expression and checks its types; throws PromQLError naming what is wrong and where. */
export function parsePromQL(src: string): Node {
  const tree = parser.parse(src);
  const text = (n: SyntaxNode) => src.slice(n.from, n.to);
  const fail = (what: string, at: { from: number } = { from: 0 }): never => {
    throw new PromQLError(`${what} at ${at.from} (near "${src.slice(at.from, at.from + 20)}")`);
  };
  // The grammar recovers from errors with error nodes; any one is a syntax error. A call of a name the grammar does not
  // know as a function parses as a selector followed by an error at its parenthesis: say so.
  tree.iterate({
    enter(ref) {
      if (!ref.type.isError) return;
      const before = src.slice(0, ref.from).trimEnd();
      const name = /[a-zA-Z_:][a-zA-Z0-9_:]*$/.exec(before)?.[0];
      if (src.slice(ref.from).trimStart().startsWith('(') && name !== undefined && FUNCTIONS[name] === undefined && !AGGREGATORS.has(name)) {
        fail(`unknown function "${name}"`, { from: before.length - name.length });
      }
      fail(ref.from >= src.trimEnd().length ? 'unexpected end of the expression' : 'syntax error', ref);
    },
  });
  const kids = (n: SyntaxNode): SyntaxNode[] => {
    const out: SyntaxNode[] = [];
    for (let c = n.firstChild; c !== null; c = c.nextSibling) out.push(c);
    return out;
  };
  const child = (n: SyntaxNode, name: string) => n.getChild(name) ?? undefined;
  const labels = (n: SyntaxNode | undefined): string[] => (n === undefined ? [] : kids(n).map((c) => (c.name === 'QuotedLabelName' ? unquote(text(c)) : text(c))));

  const matchers = (n: SyntaxNode): { name?: string; matchers: Matcher[] } => {
    let name: string | undefined;
    const out: Matcher[] = [];
    for (const m of kids(n)) {
      if (m.name === 'QuotedLabelName') {
        name = unquote(text(m)); // {"metric.name"}: a quoted metric name
        continue;
      }
      const parts = kids(m);
      const label = parts[0]!;
      const op = text(child(m, 'MatchOp')!);
      const value = unquote(text(parts[parts.length - 1]!));
      if (!MATCH_OPS.has(op)) fail('expected a label matcher operator', m);
      if (op === '=~' || op === '!~') {
        try {
          new RegExp(`^(?:${value})$`);
        } catch {
          fail(`bad regular expression "${value}"`, m);
        }
      }
      out.push({ label: label.name === 'QuotedLabelName' ? unquote(text(label)) : text(label), op: op as Matcher['op'], value });
    }
    return { ...(name === undefined ? {} : { name }), matchers: out };
  };

  const checkArgs = (fn: string, want: string[], args: Node[], at: SyntaxNode) => {
    const required = want.filter((w) => !w.endsWith('?') && !w.endsWith('...')).length;
    const variadic = want.some((w) => w.endsWith('...'));
    if (args.length < required || (!variadic && args.length > want.length)) fail(`${fn} takes ${want.length} argument(s), got ${args.length}`, at);
    args.forEach((arg, i) => {
      const w = (want[Math.min(i, want.length - 1)] ?? '').replace(/\?|\.\.\./g, '');
      const got = typeOf(arg);
      if (got !== w) fail(`argument ${i + 1} of ${fn} must be a ${w === 'matrix' ? 'range vector' : w}, is a ${got === 'matrix' ? 'range vector' : got}`, at);
    });
  };

  const expr = (n: SyntaxNode): Node => {
    switch (n.name) {
      case 'NumberDurationLiteral': {
        const t = text(n);
        const value = Number(t);
        if (Number.isNaN(value) && !/^[-+]?nan$/i.test(t)) {
          const inf = /^([-+]?)inf$/i.exec(t);
          if (inf === null) fail(`a duration "${t}" where a number is due`, n);
          return { kind: 'number', value: inf![1] === '-' ? -Infinity : Infinity };
        }
        return { kind: 'number', value };
      }
      case 'StringLiteral':
        return { kind: 'string', value: unquote(text(n)) };
      case 'ParenExpr':
        return { kind: 'paren', expr: expr(kids(n)[0]!) };
      case 'UnaryExpr': {
        const inner = expr(kids(n)[1]!);
        const type = typeOf(inner);
        if (type !== 'scalar' && type !== 'vector') fail('unary minus needs a scalar or an instant vector', n);
        return { kind: 'unary', op: text(kids(n)[0]!) as '-' | '+', expr: inner };
      }
      case 'VectorSelector': {
        const id = child(n, 'Identifier');
        const lm = child(n, 'LabelMatchers');
        const found = lm === undefined ? { matchers: [] } : matchers(lm);
        const name = id === undefined ? found.name : text(id);
        if (name === undefined && !found.matchers.some((m) => (m.op === '=' ? m.value !== '' : m.op === '=~' && !new RegExp(`^(?:${m.value})$`).test('')))) {
          fail('a selector needs a metric name or a matcher that does not match the empty string', n);
        }
        return { kind: 'selector', name, matchers: found.matchers };
      }
      case 'MatrixSelector': {
        const inner = expr(kids(n)[0]!);
        if (inner.kind !== 'selector' || inner.range !== undefined || inner.offset !== undefined) fail('a range is allowed only on a vector selector', n);
        return { ...(inner as Extract<Node, { kind: 'selector' }>), range: text(kids(n)[1]!) };
      }
      case 'SubqueryExpr': {
        const [e, range, step] = kids(n);
        const inner = expr(e!);
        if (typeOf(inner) !== 'vector') fail('a subquery needs an instant vector', n);
        return { kind: 'subquery', expr: inner, range: text(range!), ...(step === undefined ? {} : { step: text(step) }) };
      }
      case 'OffsetExpr': {
        const inner = expr(kids(n)[0]!);
        const d = child(n, 'OffsetDurationExpr') ?? kids(n)[kids(n).length - 1]!;
        if (inner.kind !== 'selector' || inner.offset !== undefined) fail('offset is allowed only on a selector', n);
        return { ...(inner as Extract<Node, { kind: 'selector' }>), offset: text(d) };
      }
      case 'FunctionCall': {
        const fn = text(child(n, 'FunctionIdentifier')!);
        const spec = FUNCTIONS[fn];
        if (spec === undefined) fail(`unknown function "${fn}"`, n);
        const args = kids(child(n, 'FunctionCallBody')!).map(expr);
        checkArgs(fn, spec!.args, args, n);
        return { kind: 'call', fn, args };
      }
      case 'AggregateExpr': {
        const op = text(child(n, 'AggregateOp')!);
        const modifier = child(n, 'AggregateModifier');
        const grouping: Grouping | undefined = modifier === undefined ? undefined : { mode: text(kids(modifier)[0]!) as Grouping['mode'], labels: labels(child(modifier, 'GroupingLabels')) };
        const args = kids(child(n, 'FunctionCallBody')!).map(expr);
        let param: Node | undefined;
        if (PARAMETRIC.has(op)) {
          if (args.length !== 2) fail(`${op} takes a parameter and an expression`, n);
          param = args.shift();
          const want = op === 'count_values' ? 'string' : 'scalar';
          if (typeOf(param!) !== want) fail(`${op} takes a ${want} parameter`, n);
        } else if (args.length !== 1) fail(`${op} takes one expression`, n);
        const inner = args[0]!;
        if (typeOf(inner) !== 'vector') fail(`${op} aggregates an instant vector`, n);
        return { kind: 'aggregate', op, ...(grouping === undefined ? {} : { grouping }), ...(param === undefined ? {} : { param }), expr: inner };
      }
      case 'BinaryExpr': {
        const parts = kids(n);
        const left = expr(parts[0]!);
        const right = expr(parts[parts.length - 1]!);
        const opNode = parts[1]!;
        const op = text(opNode).toLowerCase();
        const bool = child(n, 'BoolModifier') !== undefined;
        const clause = child(n, 'MatchingModifierClause');
        let matching: VectorMatching | undefined;
        if (clause !== undefined) {
          const c = kids(clause);
          matching = { mode: text(c[0]!) as VectorMatching['mode'], labels: labels(c[1]) };
          const group = c[2];
          if (group !== undefined) {
            if (SET_OPS.has(op)) fail('group modifiers are not allowed on set operators', group);
            matching.group = { side: text(group) === 'group_left' ? 'left' : 'right', labels: labels(c[3]) };
          }
        }
        if (bool && !COMPARISONS.has(op)) fail('bool is allowed only on comparisons', n);
        const lt = typeOf(left);
        const rt = typeOf(right);
        if (lt === 'string' || rt === 'string' || lt === 'matrix' || rt === 'matrix') fail(`"${op}" needs scalars or instant vectors`, opNode);
        if (SET_OPS.has(op) && (lt !== 'vector' || rt !== 'vector')) fail(`"${op}" needs instant vectors on both sides`, opNode);
        if (COMPARISONS.has(op) && lt === 'scalar' && rt === 'scalar' && !bool) fail('a comparison of two scalars needs bool', opNode);
        if (matching !== undefined && (lt !== 'vector' || rt !== 'vector')) fail('vector matching needs instant vectors on both sides', opNode);
        return { kind: 'binary', op, left, right, bool, ...(matching === undefined ? {} : { matching }) };
      }
      default:
        return fail(`${n.name} is not supported here`, n);
    }
  };

  const top = tree.topNode.firstChild;
  if (top === null) return fail('an empty expression');
  return expr(top);
}

export function typeOf(node: Node): ValueType {
  switch (node.kind) {
    case 'number': return 'scalar';
    case 'string': return 'string';
    case 'selector': return node.range === undefined ? 'vector' : 'matrix';
    case 'subquery': return 'matrix';
    case 'call': return FUNCTIONS[node.fn]!.returns;
    case 'aggregate': return 'vector';
    case 'paren': return typeOf(node.expr);
    case 'unary': return typeOf(node.expr);
    case 'binary': return typeOf(node.left) === 'vector' || typeOf(node.right) === 'vector' ? 'vector' : 'scalar';
  }
}
