// A PromQL parser for the tests that hold rule files and dashboards to the app's metrics: it parses the language as
// Prometheus's grammar does (precedence, vector matching, aggregations, range selectors, subqueries, offsets) into a
// small AST, and type-checks it (what a function takes, what an operator allows), so a rule with a typo in its syntax
// fails here without Prometheus installed. It is not the reference: where promtool is present the tests run it too.

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
/** Binary operators by precedence, lowest first; `^` is right-associative. */
const LEVELS: string[][] = [['or'], ['and', 'unless'], ['==', '!=', '<=', '<', '>=', '>'], ['+', '-'], ['*', '/', '%', 'atan2'], ['^']];

interface Token {
  type: 'ident' | 'number' | 'string' | 'duration' | 'op' | 'punct' | 'eof';
  text: string;
  at: number;
}

const DURATION = /^(?:\d+(?:ms|[smhdwy]))+$/;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  /** Inside `[...]` durations are read as such (`5m`, not the number 5 and the name m). */
  let inBrackets = false;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    const rest = src.slice(i);
    if (inBrackets && /^\d/.test(rest)) {
      const m = /^[0-9a-z]+/.exec(rest)!;
      if (!DURATION.test(m[0])) throw new PromQLError(`bad duration "${m[0]}" at ${i}`);
      out.push({ type: 'duration', text: m[0], at: i });
      i += m[0].length;
      continue;
    }
    const num = /^(?:0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf|nan)(?![\w:])/i.exec(rest);
    if (num) {
      // After `offset` a duration follows; elsewhere a number.
      const prev = out[out.length - 1];
      const dur = /^(?:\d+(?:ms|[smhdwy]))+/.exec(rest);
      if (prev?.type === 'ident' && prev.text === 'offset' && dur) {
        out.push({ type: 'duration', text: dur[0], at: i });
        i += dur[0].length;
      } else {
        out.push({ type: 'number', text: num[0], at: i });
        i += num[0].length;
      }
      continue;
    }
    if (/^\d/.test(rest) && /^(?:\d+(?:ms|[smhdwy]))+(?![\w:])/.test(rest)) {
      const dur = /^(?:\d+(?:ms|[smhdwy]))+/.exec(rest)!;
      out.push({ type: 'duration', text: dur[0], at: i });
      i += dur[0].length;
      continue;
    }
    const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest);
    if (ident) { out.push({ type: 'ident', text: ident[0], at: i }); i += ident[0].length; continue; }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let value = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && c !== '`') {
          const e = src[j + 1];
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e === '\\' || e === '"' || e === "'" ? e : `\\${e ?? ''}`;
          j += 2;
        } else value += src[j++];
      }
      if (j >= src.length) throw new PromQLError(`unterminated string at ${i}`);
      out.push({ type: 'string', text: value, at: i });
      i = j + 1;
      continue;
    }
    const op = /^(?:==|!=|<=|>=|=~|!~|[-+*/%^<>=])/.exec(rest);
    if (op) { out.push({ type: 'op', text: op[0], at: i }); i += op[0].length; continue; }
    if ('(){}[],:'.includes(c)) {
      if (c === '[') inBrackets = true;
      if (c === ']') inBrackets = false;
      out.push({ type: 'punct', text: c, at: i });
      i++;
      continue;
    }
    throw new PromQLError(`unexpected character "${c}" at ${i}`);
  }
  out.push({ type: 'eof', text: '', at: src.length });
  return out;
}

/** Parses one PromQL expression and checks its types; throws PromQLError naming what is wrong and where. */
export function parsePromQL(src: string): Node {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = (k = 0): Token => tokens[Math.min(pos + k, tokens.length - 1)]!;
  const next = (): Token => tokens[pos++]!;
  const fail = (what: string, t = peek()): never => {
    throw new PromQLError(`${what} at ${t.at} (near "${src.slice(t.at, t.at + 20)}")`);
  };
  const expect = (text: string): Token => (peek().text === text && peek().type !== 'string' ? next() : fail(`expected "${text}"`));
  const isKeyword = (t: Token, word: string) => t.type === 'ident' && t.text === word;

  const labelList = (): string[] => {
    expect('(');
    const labels: string[] = [];
    while (peek().text !== ')') {
      const t = next();
      if (t.type !== 'ident' || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(t.text)) fail('expected a label name', t);
      labels.push(t.text);
      if (peek().text === ',') next();
      else if (peek().text !== ')') fail('expected "," or ")"');
    }
    next();
    return labels;
  };

  const matchers = (): Matcher[] => {
    expect('{');
    const out: Matcher[] = [];
    while (peek().text !== '}') {
      const label = next();
      if (label.type !== 'ident' || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(label.text)) fail('expected a label name', label);
      const op = next();
      if (op.type !== 'op' || !['=', '!=', '=~', '!~'].includes(op.text)) fail('expected a label matcher operator', op);
      const value = next();
      if (value.type !== 'string') fail('expected a quoted label value', value);
      if (op.text === '=~' || op.text === '!~') {
        try {
          new RegExp(`^(?:${value.text})$`);
        } catch {
          fail(`bad regular expression "${value.text}"`, value);
        }
      }
      out.push({ label: label.text, op: op.text as Matcher['op'], value: value.text });
      if (peek().text === ',') next();
      else if (peek().text !== '}') fail('expected "," or "}"');
    }
    next();
    return out;
  };

  const postfix = (node: Node): Node => {
    for (;;) {
      if (peek().text === '[' && peek().type === 'punct') {
        next();
        const range = next();
        if (range.type !== 'duration') fail('expected a duration', range);
        if (peek().text === ':') {
          next();
          let step: string | undefined;
          if (peek().type === 'duration') step = next().text;
          expect(']');
          if (typeOf(node) !== 'vector') fail('a subquery needs an instant vector');
          node = { kind: 'subquery', expr: node, range: range.text, ...(step === undefined ? {} : { step }) };
        } else {
          expect(']');
          if (node.kind !== 'selector' || node.range !== undefined || node.offset !== undefined) fail('a range is allowed only on a vector selector');
          const sel = node as Extract<Node, { kind: 'selector' }>;
          node = { ...sel, range: range.text };
        }
      } else if (isKeyword(peek(), 'offset')) {
        next();
        const d = next();
        if (d.type !== 'duration') fail('expected a duration after offset', d);
        if (node.kind !== 'selector' || node.offset !== undefined) fail('offset is allowed only on a selector');
        node = { ...(node as Extract<Node, { kind: 'selector' }>), offset: d.text };
      } else return node;
    }
  };

  const primary = (): Node => {
    const t = peek();
    if (t.type === 'op' && (t.text === '-' || t.text === '+')) {
      next();
      const expr = binary(LEVELS.length - 1);
      const type = typeOf(expr);
      if (type !== 'scalar' && type !== 'vector') fail('unary minus needs a scalar or an instant vector', t);
      return { kind: 'unary', op: t.text as '-' | '+', expr };
    }
    if (t.type === 'number') {
      next();
      return postfix({ kind: 'number', value: Number(t.text) });
    }
    if (t.type === 'string') {
      next();
      return { kind: 'string', value: t.text };
    }
    if (t.text === '(' && t.type === 'punct') {
      next();
      const expr = binary(0);
      expect(')');
      return postfix({ kind: 'paren', expr });
    }
    if (t.text === '{' && t.type === 'punct') {
      const ms = matchers();
      if (!ms.some((m) => m.op === '=' ? m.value !== '' : m.op === '=~' && !new RegExp(`^(?:${m.value})$`).test(''))) {
        fail('a selector needs a metric name or a matcher that does not match the empty string', t);
      }
      return postfix({ kind: 'selector', name: undefined, matchers: ms });
    }
    if (t.type === 'ident') {
      if (AGGREGATORS.has(t.text) && (peek(1).text === '(' || isKeyword(peek(1), 'by') || isKeyword(peek(1), 'without'))) {
        next();
        let grouping: Grouping | undefined;
        if (isKeyword(peek(), 'by') || isKeyword(peek(), 'without')) grouping = { mode: next().text as Grouping['mode'], labels: labelList() };
        expect('(');
        let param: Node | undefined;
        if (PARAMETRIC.has(t.text)) {
          param = binary(0);
          expect(',');
          const want = t.text === 'count_values' ? 'string' : 'scalar';
          if (typeOf(param) !== want) fail(`${t.text} takes a ${want} parameter`, t);
        }
        const expr = binary(0);
        expect(')');
        if (typeOf(expr) !== 'vector') fail(`${t.text} aggregates an instant vector`, t);
        if (isKeyword(peek(), 'by') || isKeyword(peek(), 'without')) {
          if (grouping !== undefined) fail('grouping given twice');
          grouping = { mode: next().text as Grouping['mode'], labels: labelList() };
        }
        return { kind: 'aggregate', op: t.text, ...(grouping === undefined ? {} : { grouping }), ...(param === undefined ? {} : { param }), expr };
      }
      if (peek(1).text === '(' && peek(1).type === 'punct') {
        const spec = FUNCTIONS[t.text];
        if (spec === undefined) fail(`unknown function "${t.text}"`, t);
        next();
        next();
        const args: Node[] = [];
        while (peek().text !== ')') {
          args.push(binary(0));
          if (peek().text === ',') next();
          else if (peek().text !== ')') fail('expected "," or ")"');
        }
        next();
        checkArgs(t.text, spec!.args, args, t);
        return postfix({ kind: 'call', fn: t.text, args });
      }
      if (['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'atan2'].includes(t.text)) {
        fail(`unexpected keyword "${t.text}"`, t);
      }
      next();
      const ms = peek().text === '{' && peek().type === 'punct' ? matchers() : [];
      return postfix({ kind: 'selector', name: t.text, matchers: ms });
    }
    return fail('expected an expression');
  };

  const checkArgs = (fn: string, want: string[], args: Node[], at: Token) => {
    const required = want.filter((w) => !w.endsWith('?') && !w.endsWith('...')).length;
    const variadic = want.some((w) => w.endsWith('...'));
    if (args.length < required || (!variadic && args.length > want.length)) fail(`${fn} takes ${want.length} argument(s), got ${args.length}`, at);
    args.forEach((arg, i) => {
      const w = (want[Math.min(i, want.length - 1)] ?? '').replace(/\?|\.\.\./g, '');
      const got = typeOf(arg);
      if (got !== w) fail(`argument ${i + 1} of ${fn} must be a ${w === 'matrix' ? 'range vector' : w}, is a ${got === 'matrix' ? 'range vector' : got}`, at);
    });
  };

  const binary = (level: number): Node => {
    if (level >= LEVELS.length) return primary();
    let left = binary(level + 1);
    for (;;) {
      const t = peek();
      const isOp = (t.type === 'op' || t.type === 'ident') && LEVELS[level]!.includes(t.text);
      if (!isOp) return left;
      next();
      let bool = false;
      if (isKeyword(peek(), 'bool')) {
        if (!COMPARISONS.has(t.text)) fail('bool is allowed only on comparisons');
        next();
        bool = true;
      }
      let matching: VectorMatching | undefined;
      if (isKeyword(peek(), 'on') || isKeyword(peek(), 'ignoring')) {
        matching = { mode: next().text as VectorMatching['mode'], labels: labelList() };
        if (isKeyword(peek(), 'group_left') || isKeyword(peek(), 'group_right')) {
          if (SET_OPS.has(t.text)) fail('group modifiers are not allowed on set operators');
          const side = next().text === 'group_left' ? 'left' : 'right';
          const labels = peek().text === '(' ? labelList() : [];
          matching.group = { side, labels };
        }
      }
      // `^` is right-associative: its right side binds at the same level.
      const right = t.text === '^' ? binary(level) : binary(level + 1);
      const lt = typeOf(left);
      const rt = typeOf(right);
      if (lt === 'string' || rt === 'string' || lt === 'matrix' || rt === 'matrix') fail(`"${t.text}" needs scalars or instant vectors`, t);
      if (SET_OPS.has(t.text) && (lt !== 'vector' || rt !== 'vector')) fail(`"${t.text}" needs instant vectors on both sides`, t);
      if (COMPARISONS.has(t.text) && lt === 'scalar' && rt === 'scalar' && !bool) fail('a comparison of two scalars needs bool', t);
      if (matching !== undefined && (lt !== 'vector' || rt !== 'vector')) fail('vector matching needs instant vectors on both sides', t);
      left = { kind: 'binary', op: t.text, left, right, bool, ...(matching === undefined ? {} : { matching }) };
      if (t.text === '^') return left;
    }
  };

  const root = binary(0);
  if (peek().type !== 'eof') fail('unexpected text after the expression');
  return root;
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
