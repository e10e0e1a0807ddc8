// Lexicon string formats: ours (functions/atproto/syntax, dependency-free) must give the AppView's verdict for every
// format. The oracle is @atproto/lex-schema's isStringFormat in its default strict mode (a dev dependency, imported
// here only). (a) the interop vectors, every line (not trimmed; blank and `#` lines are comments); (b) a
// differential run over every line of every syntax vector file plus a seeded generated corpus.
import { readdirSync, readFileSync } from 'node:fs';
import { isStringFormat, STRING_FORMATS } from '@atproto/lex-schema';
import { base32 } from 'multiformats/bases/base32';
import { base36 } from 'multiformats/bases/base36';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { STRING_FORMATS as LEXICON_FORMATS } from '../../functions/atproto/lexicon/formats.ts';
import { prng } from '../../long-runners/dev/prng.ts';
import {
  isLexiconAtUri,
  isLexiconDatetime,
  isValidAtIdentifier,
  isValidAtUri,
  isValidCidString,
  isValidDatetime,
  isValidLanguage,
  isValidUri,
} from '../../functions/atproto/syntax/index.ts';

const DIR = new URL('../fixtures/interop/syntax/', import.meta.url);

function cases(file: string): string[] {
  return readFileSync(new URL(file, DIR), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

/** Ours, per oracle format name: the table the lexicon checks use, so its wiring is tested too. */
const OURS = LEXICON_FORMATS;

const oracle = (value: string, format: string) => isStringFormat(value, format as (typeof STRING_FORMATS)[number]);
const short = (s: string) => JSON.stringify(s.length > 90 ? `${s.slice(0, 60)}…(${s.length} chars)` : s);

describe('interop vectors', () => {
  // Where the interop files and the AppView disagree, the AppView wins: these lines must get the AppView's verdict
  // (listed so that any change on either side fails here).
  const APPVIEW_DIFFERS: Record<string, string[]> = {
    // validateCidString accepts only `b…` base32 CIDv1 and `Qm…` CIDv0 (see cid-string.ts).
    cid_syntax_valid: [
      'zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7',
      'mBcDxtdWx0aWhhc2g+',
      'z7x3CtScH765HvShXT',
      'zdj7WhuEjrB52m1BisYCtmjH1hSKa7yZ3jEZ9JcXaFRD51wVz',
      '7134036155352661643226414134664076',
      'f017012202c5f688262e0ece8569aa6f94d60aad55ca8d9d83734e4a7430d0cff6588ec2b',
    ],
    cid_syntax_invalid: ['QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR'],
    // isValidUri: the scheme is \w+ (no `-` or `.`), and there is no length limit.
    uri_syntax_valid: ['content-type:text/plan', 'microsoft.windows.camera:thing'],
    uri_syntax_invalid: [`https://example.com/${'x'.repeat(8200)}`],
  };

  const FILES: [string, (v: string) => boolean, boolean][] = [
    ['language_syntax_valid', isValidLanguage, true],
    ['language_syntax_invalid', isValidLanguage, false],
    // Well-formed BCP 47 that RFC 5646 §4.1 still forbids: a repeated variant or extension singleton.
    ['language_parse_invalid', isValidLanguage, false],
    ['uri_syntax_valid', isValidUri, true],
    ['uri_syntax_invalid', isValidUri, false],
    ['cid_syntax_valid', isValidCidString, true],
    ['cid_syntax_invalid', isValidCidString, false],
    ['atidentifier_syntax_valid', isValidAtIdentifier, true],
    ['atidentifier_syntax_invalid', isValidAtIdentifier, false],
    ['datetime_syntax_valid', isLexiconDatetime, true],
    ['datetime_syntax_invalid', isLexiconDatetime, false],
    // Datetimes of the right shape that are no instant (month 0, hour 25, second 61, a negative year).
    ['datetime_parse_invalid', isLexiconDatetime, false],
    ['aturi_syntax_valid', isLexiconAtUri, true],
    ['aturi_syntax_invalid', isLexiconAtUri, false],
  ];

  it.each(FILES)('%s: every line', (file, ours, valid) => {
    const lines = cases(`${file}.txt`);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const differs = APPVIEW_DIFFERS[file] ?? [];
    for (const line of differs) expect(lines).toContain(line);
    const wrong = lines.filter((line) => ours(line) !== (differs.includes(line) ? !valid : valid));
    expect(wrong.map(short)).toEqual([]);
  });

  it('the listed divergent lines really are the AppView verdict', () => {
    for (const [file, lines] of Object.entries(APPVIEW_DIFFERS)) {
      const format = file.startsWith('cid') ? 'cid' : 'uri';
      const valid = file.endsWith('_valid');
      expect(lines.filter((line) => oracle(line, format) === valid).map(short)).toEqual([]);
    }
  });
});

describe('strict variants differ from the existing functions exactly where the AppView does', () => {
  it('datetime: day 31 in any month, long fractions, years past 9999', () => {
    for (const v of ['1985-02-30T00:00:00Z', '1985-04-31T12:00:00Z', `1985-04-12T23:20:50.${'1'.repeat(30)}Z`]) {
      expect([v, isLexiconDatetime(v), isValidDatetime(v), oracle(v, 'datetime')]).toEqual([v, true, false, true]);
    }
    for (const v of ['9999-12-31T23:59:59-01:00', '9999-12-31T23:00:00-01:00']) {
      expect([v, isLexiconDatetime(v), isValidDatetime(v), oracle(v, 'datetime')]).toEqual([v, false, true, false]);
    }
    for (const v of ['0000-01-01T00:59:59.999+01:00', '1985-04-12T23:20:60Z', '1985-04-00T00:00:00Z']) {
      expect([v, isLexiconDatetime(v), isValidDatetime(v), oracle(v, 'datetime')]).toEqual([v, false, false, false]);
    }
  });

  it('at-uri: the fragment must be a JSON pointer with valid percent-encoding', () => {
    for (const v of ['at://a.com/a.b.c/x#/a\\b', 'at://a.com#/%zz', 'at://did:plc:abc#/%FF']) {
      expect([v, isLexiconAtUri(v), isValidAtUri(v), oracle(v, 'at-uri')]).toEqual([v, false, true, false]);
    }
    for (const v of ['at://a.com#/%C3%A9', 'at://a.com/a.b.c/x#/[0]']) {
      expect([v, isLexiconAtUri(v), isValidAtUri(v), oracle(v, 'at-uri')]).toEqual([v, true, true, true]);
    }
    expect(['at://a.com#', 'at://a.com#a'].map((v) => [isLexiconAtUri(v), isValidAtUri(v), oracle(v, 'at-uri')])).toEqual([
      [false, false, false],
      [false, false, false],
    ]);
  });

  it('cid: the AppView accepts padding, non-minimal varints and CIDv0', () => {
    const cid = 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a';
    const bytes = base32.decode(cid);
    const nonMinimal = base32.encode(Uint8Array.from([0x81, 0x00, ...bytes.subarray(1)]));
    const accepted = [cid, `${cid}==`, nonMinimal, 'QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU'];
    const refused = [cid.toUpperCase(), `B${cid.slice(1).toUpperCase()}`, base58btc.encode(bytes), base36.encode(bytes), `${cid}=a`, `${cid}a`, cid.slice(0, -1)];
    expect(accepted.map((v) => [v, isValidCidString(v), oracle(v, 'cid')])).toEqual(accepted.map((v) => [v, true, true]));
    expect(refused.map((v) => [v, isValidCidString(v), oracle(v, 'cid')])).toEqual(refused.map((v) => [v, false, false]));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Generated corpus (deterministic)
// ---------------------------------------------------------------------------------------------------------------


const rand = prng(0x5eed_2025);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const chance = (p: number) => rand() < p;
const times = (n: number, f: () => string, sep = '') => Array.from({ length: n }, f).join(sep);
const fromChars = (chars: string, min: number, max: number) => times(min + int(max - min + 1), () => pick([...chars]));

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALPHA = LOWER + LOWER.toUpperCase();
const DIGIT = '0123456789';
const ALNUM = ALPHA + DIGIT;
/** Odd characters: whitespace JavaScript's \s knows (and U+0085, U+180E, which it does not), non-ASCII, a lone surrogate. */
const ODD = [' ', '\t', '\n', '\u00a0', '\u0085', '\u180e', '\u2028', '\u3000', '\ufeff', 'é', 'É', '€', 'Ā', '😀', '\ud800', '\u0000', '%', '#', '?', '/', '\\', ':', '.', '-', '_', '~', '=', '@', '[', ']', '(', '+', "'", '"', '<', '*'];

function languageTag(): string {
  if (chance(0.08)) return pick(['i-default', 'zh-min-nan', 'zh-min', 'en-GB-oed', 'sgn-BE-NL', 'art-lojban', 'cel-gaulish', 'x-whatever', 'X-a-b']);
  const parts: string[] = [];
  parts.push(chance(0.85) ? fromChars(chance(0.9) ? LOWER : ALPHA, 2, 3) : fromChars(LOWER, 1, 9));
  if (chance(0.2)) parts.push(times(1 + int(4), () => fromChars(ALPHA, 3, 3), '-'));
  if (chance(0.3)) parts.push(fromChars(ALPHA, 4, 4));
  if (chance(0.4)) parts.push(chance(0.7) ? fromChars(ALPHA, 2, 2) : fromChars(DIGIT, 3, 3));
  const variants = times(int(3), () => (chance(0.7) ? fromChars(ALNUM, 5, 8) : pick([...DIGIT]) + fromChars(ALNUM, 3, 3)), '-');
  if (variants) parts.push(variants);
  if (chance(0.2) && variants) parts.push(variants.split('-')[0]!.toUpperCase()); // a repeat
  for (let k = int(3); k > 0; k--) parts.push(`${pick([...'0123456789abtuwxyzAU'])}-${times(1 + int(2), () => fromChars(ALNUM, chance(0.9) ? 2 : 1, 9), '-')}`);
  if (chance(0.2)) parts.push(`${pick(['x', 'X'])}-${times(1 + int(3), () => fromChars(ALNUM, 1, 9), '-')}`);
  return parts.join('-');
}

function uriValue(): string {
  const scheme = pick(['https', 'at', 'dns', 'a_b', 'A1', 'content-type', 'a.b', '', '_', 'x' + fromChars(ALNUM, 1, 6)]);
  const slashes = pick(['', '//', '/', '///', '//', '']);
  const rest = times(int(12), () => (chance(0.85) ? pick([...ALNUM, '/', '.', '?', '=', '&']) : pick(ODD)));
  return `${scheme}${chance(0.95) ? ':' : ''}${slashes}${rest}`;
}

const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
function varint(n: number, padding = 0): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  } while (n > 0);
  for (let k = 0; k < padding; k++) out.push(0x80);
  out[out.length - 1]! &= 0x7f;
  return out;
}
function cidValue(): string {
  const digestLength = pick([32, 32, 32, 20, 64, 0, 1]);
  const multihash = [...varint(pick([0x12, 0x12, 0x13, 0x00, 0xb220, 18])), ...varint(digestLength), ...randomBytes(digestLength)];
  // Occasionally break the length: one byte short or over.
  if (chance(0.1)) multihash.push(int(256));
  if (chance(0.1)) multihash.pop();
  const kind = int(10);
  if (kind < 3) {
    const v0 = base58btc.encode(Uint8Array.from(multihash)).slice(1); // CIDv0, normally Qm…
    // A character above U+00FF in place of one digit: the AppView's base58 decoder misreads instead of refusing it.
    const at = 2 + int(v0.length - 2);
    return chance(0.3) ? v0.slice(0, at) + pick(['€', 'Ā', '\u3000', '\ud83d', 'é']) + v0.slice(at + 1) : v0;
  }
  const version = pick([1, 1, 1, 0, 2, 18]);
  const bytes = Uint8Array.from([...varint(version, chance(0.1) ? 1 : 0), ...varint(pick([0x71, 0x55, 0x70, 0x0129, 0x300001]), chance(0.1) ? 1 : 0), ...multihash]);
  if (kind < 8) return base32.encode(bytes) + (chance(0.1) ? '='.repeat(1 + int(4)) : '');
  return kind === 8 ? base58btc.encode(bytes) : base36.encode(bytes);
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');
function datetimeValue(): string {
  const year = pick([0, 0, 1, 4, 100, 1900, 1985, 2000, 2024, 9999, 9999]);
  const month = pick([0, 1, 2, 2, 4, 12, 12, 13]);
  const day = pick([0, 1, 1, 28, 29, 30, 31, 31, 32]);
  const hour = pick([0, 0, 1, 12, 23, 23, 24]);
  const minute = pick([0, 0, 30, 59, 59, 60]);
  const second = pick([0, 0, 30, 59, 59, 60, 61]);
  const frac = chance(0.5) ? '' : `.${fromChars(DIGIT, chance(0.8) ? 1 : 0, chance(0.2) ? 45 : 9)}`;
  const zone = pick(['Z', 'Z', 'z', '+00:00', '-00:00', '+01:00', '-01:00', '+23:59', '-23:59', '+24:00', '+0100', '', '+05:30', '-12:60']);
  const t = chance(0.95) ? 'T' : pick(['t', ' ']);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}${t}${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${frac}${zone}`;
}

const label = () => (chance(0.9) ? fromChars(LOWER + DIGIT, 1, 12) : pick(['-a', 'a-', 'a-b', 'xn--bcher-kva', '0', 'A']));
const handleValue = () => `${times(1 + int(3), label, '.')}.${chance(0.9) ? fromChars(LOWER, 2, 6) : pick(['0a', 'a0', 'a-', '-a', '1'])}`;
const didValue = () =>
  `did:${pick(['plc', 'web', 'key', 'PLC', 'x1', ''])}:${chance(0.5) ? fromChars('abcdefghijklmnopqrstuvwxyz234567', 24, 24) : fromChars(ALNUM + '._:%-', 0, 20)}`;
const nsidValue = () => `${times(2 + int(3), label, '.')}.${chance(0.9) ? fromChars(ALPHA, 1, 1) + fromChars(ALNUM, 0, 10) : pick(['a-b', '1a', ''])}`;
const rkeyValue = () => (chance(0.2) ? pick(['.', '..', 'self', '...', '~']) : fromChars(ALNUM + '_~.:-', 1, 16));
const tidValue = () => fromChars('234567abcdefghijklmnopqrstuvwxyz', 13, 13);
function atUriValue(): string {
  let uri = `at://${chance(0.5) ? handleValue() : didValue()}`;
  if (chance(0.7)) uri += `/${nsidValue()}`;
  if (chance(0.5)) uri += `/${rkeyValue()}`;
  if (chance(0.08)) uri += '/';
  if (chance(0.08)) uri += `?${fromChars(ALNUM + '=&', 0, 6)}`;
  if (chance(0.35)) {
    const piece = () => pick(['/', 'a', 'Z', '0', '~', '%20', '%C3%A9', '%FF', '%zz', '%', '%E2%82', '\\', '[', ']', "'", '(', '#', '?', '"', '{']);
    uri += `#${chance(0.85) ? '/' : ''}${times(int(6), piece)}`;
  }
  return uri;
}

/** One random edit: case, repeats, inserted odd characters, deletions, truncation, appended separators. */
function mutate(value: string): string {
  const at = int(value.length + 1);
  switch (int(10)) {
    case 0:
      return value.toUpperCase();
    case 1:
      return value.toLowerCase();
    case 2: {
      const i = int(Math.max(value.length, 1));
      const c = value[i] ?? '';
      return value.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + value.slice(i + 1);
    }
    case 3: {
      // Repeat one separator-delimited piece (a subtag, label, segment).
      const sep = pick(['-', '.', '/', ':']);
      const parts = value.split(sep);
      const i = int(parts.length);
      parts.splice(i, 0, parts[i]!);
      return parts.join(sep);
    }
    case 4:
      return value.slice(0, at) + pick(ODD) + value.slice(at);
    case 5:
      return value.slice(0, at) + value.slice(at + 1);
    case 6:
      return value.slice(0, at);
    case 7:
      return value + pick(['-', '.', ':', '=', '/', '#', ' ', '-x', '%', 'a', 'q', '2']);
    case 8:
      return value.slice(0, at) + (chance(0.7) ? pick([...ALNUM]) : pick(ODD)) + value.slice(at + 1);
    default:
      return value.slice(0, at) + (value[at + 1] ?? '') + (value[at] ?? '') + value.slice(at + 2);
  }
}

function corpus(): string[] {
  const vectors = readdirSync(DIR).filter((f) => f.endsWith('.txt')).flatMap((f) => cases(f));
  const generators = [languageTag, uriValue, cidValue, datetimeValue, handleValue, didValue, nsidValue, rkeyValue, tidValue, atUriValue];
  const generated = Array.from({ length: 4000 }, (_, i) => generators[i % generators.length]!());
  const lengthEdges = [
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, // 253-character handle
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`,
    `did:web:${'a'.repeat(2040)}`,
    `did:web:${'a'.repeat(2041)}`,
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}.${'e'.repeat(63)}`, // 317-character NSID
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}.${'e'.repeat(64)}`,
    'k'.repeat(512),
    'k'.repeat(513),
    `at://a.com/a.b.c/${'k'.repeat(512)}#/${'x'.repeat(8192 - 538)}`,
    `at://a.com/a.b.c/${'k'.repeat(512)}#/${'x'.repeat(8192 - 537)}`,
    `1985-04-12T23:20:50.${'1'.repeat(38)}+01:00`,
    `1985-04-12T23:20:50.${'1'.repeat(39)}+01:00`,
    `b${'a'.repeat(127)}`,
    `Qm${'a'.repeat(126)}`,
  ];
  const seeds = [...vectors, ...generated, ...lengthEdges];
  const mutated = Array.from({ length: 4000 }, () => {
    let v = pick(seeds);
    for (let k = 1 + int(2); k > 0; k--) v = mutate(v);
    return v;
  });
  return [...new Set([...seeds, ...mutated])];
}

describe('differential against @atproto/lex-schema isStringFormat (strict)', () => {
  const values = corpus();

  it('covers every format the oracle knows, and nothing else', () => {
    expect([...STRING_FORMATS].sort()).toEqual(Object.keys(OURS).sort());
    expect(values.length).toBeGreaterThan(7000);
  });

  it('reaches the corners where the AppView is unusual', () => {
    const count = (f: (v: string) => boolean) => values.filter(f).length;
    // Values on which the existing (non-lexicon) checks and the AppView part ways.
    expect(count((v) => isValidDatetime(v) !== oracle(v, 'datetime'))).toBeGreaterThanOrEqual(5);
    expect(count((v) => isValidAtUri(v) !== oracle(v, 'at-uri'))).toBeGreaterThanOrEqual(5);
    // Well-formed language tags that only the strict rules refuse (repeats, upper-case or long primary).
    expect(count((v) => !oracle(v, 'language') && isStringFormat(v, 'language', { strict: false }))).toBeGreaterThanOrEqual(20);
    // CIDs accepted only through the decoders' tolerance: padding, CIDv0, characters above U+00FF.
    const cids = values.filter((v) => oracle(v, 'cid'));
    expect(cids.filter((v) => v.endsWith('=')).length).toBeGreaterThanOrEqual(3);
    expect(cids.filter((v) => v.startsWith('Q')).length).toBeGreaterThanOrEqual(10);
    expect(cids.filter((v) => /[^\x00-\xff]/.test(v)).length).toBeGreaterThanOrEqual(5);
  });

  it.each(Object.keys(OURS))('%s: same verdict on every corpus value', (format) => {
    const ours = OURS[format]!;
    let accepted = 0;
    const disagreements: string[] = [];
    for (const value of values) {
      const want = oracle(value, format);
      if (want) accepted++;
      if (ours(value) !== want) disagreements.push(`${short(value)} oracle=${want}`);
    }
    expect(disagreements.slice(0, 20)).toEqual([]);
    // The corpus must exercise both verdicts substantially, or the comparison says little.
    expect(accepted).toBeGreaterThanOrEqual(40);
    expect(values.length - accepted).toBeGreaterThanOrEqual(1000);
  });
});
