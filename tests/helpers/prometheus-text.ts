// A strict reader of the Prometheus text exposition format (0.0.4), for tests that hold a /metrics answer against
// the declared series: each family's HELP and TYPE exactly once and before its samples, every sample line well
// formed and of a family declared above it, no series twice. Anything else throws, naming the line.

export interface Family {
  help: string;
  type: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
/** A label value: any character but a raw backslash, quote or newline, or one of the three escapes. */
const VALUE = '(?:[^"\\\\\\n]|\\\\[\\\\"n])*';
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL}="${VALUE}")(?:,${LABEL}="${VALUE}")*)?,?\\})? (\\S+)(?: -?\\d+)?$`);
const PAIR = new RegExp(`(${LABEL})="(${VALUE})"`, 'g');
const NUMBER = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

/** The families of a /metrics body, by name; throws on the first line the format does not allow. */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const family = (name: string, line: string): Family => {
    const f = families.get(name);
    if (f === undefined) throw new Error(`a sample before its family's HELP and TYPE: ${line}`);
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = HELP_LINE.exec(line);
    if (help !== null) {
      const name = help[1]!;
      if (families.has(name)) throw new Error(`a second HELP for ${name}`);
      families.set(name, { help: help[2]!, type: '', samples: [] });
      continue;
    }
    const type = TYPE_LINE.exec(line);
    if (type !== null) {
      const f = family(type[1]!, line);
      if (f.type !== '') throw new Error(`a second TYPE for ${type[1]}`);
      if (f.samples.length > 0) throw new Error(`TYPE after samples of ${type[1]}`);
      f.type = type[2]!;
      continue;
    }
    if (line.startsWith('#')) throw new Error(`a comment that is neither HELP nor TYPE: ${line}`);
    const sample = SAMPLE_LINE.exec(line);
    if (sample === null) throw new Error(`not a sample line: ${line}`);
    const f = family(sample[1]!, line);
    if (f.type === '') throw new Error(`a sample before its family's TYPE: ${line}`);
    if (!NUMBER.test(sample[3]!)) throw new Error(`not a number: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (sample[2] ?? '').matchAll(PAIR)) {
      if (name! in labels) throw new Error(`label ${name} twice: ${line}`);
      labels[name!] = value!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const key = seriesKey(sample[1]!, labels);
    if (seen.has(key)) throw new Error(`a series twice: ${line}`);
    seen.add(key);
    f.samples.push({ labels, value: Number(sample[3]!.replace('Inf', 'Infinity')) });
  }
  for (const [name, f] of families) if (f.type === '') throw new Error(`no TYPE for ${name}`);
  return families;
}

/** One string per series: its name and its labels in name order. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}
