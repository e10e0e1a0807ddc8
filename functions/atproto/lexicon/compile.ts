// Lexicon documents compiled into checks of records in lex-JSON (the form the stream carries: a link is
// {"$link": cid}, bytes {"$bytes": base64}, a blob {"$type": "blob", ref, mimeType, size}). The rules are the
// AppView's: it checks a record with its lexicon's schema in strict mode before indexing anything of it
// (`@atproto/lex-schema`, our test oracle), so a record this refuses is one the AppView does not index. Where the
// lexicon specification leaves a choice, the AppView's answer is taken:
// - objects are open (unknown fields pass); an object a `ref` names may carry `$type`, but only its own exact id;
// - a union member is chosen by its exact `$type` (no `#main` spelling); an open union lets any other string through;
// - a blob must be the typed form with a raw CIDv1 ref; its `accept` and `maxSize` are enforced;
// - string lengths count UTF-8 bytes, `maxGraphemes` extended grapheme clusters; `knownValues` are advisory.
// The checks are closures built once per definition: this runs for every record the index sees.
import { isLexValue, isPlainMap, linkCid, bytesLength } from './lex-values.ts';
import { STRING_FORMATS } from './formats.ts';
import { utf8Length, graphemeLength } from './text-length.ts';

/** What is wrong, and where (`$.embed.images[0].alt`); undefined when nothing is. */
export type Check = (value: unknown) => Issue | undefined;

export class Issue {
  path: string;
  message: string;
  constructor(path: string, message: string) {
    this.path = path;
    this.message = message;
  }
  under(segment: string): Issue {
    this.path = segment + this.path;
    return this;
  }
  toString(): string {
    return `$${this.path}: ${this.message}`;
  }
}

const fail = (message: string): Issue => new Issue('', message);

type Def = { [key: string]: unknown };

export interface LexiconValidator {
  /** The collections with a record definition. */
  readonly collections: ReadonlySet<string>;
  /** What makes `record` invalid for `collection`'s lexicon; undefined when valid or when no lexicon is known. */
  recordProblem(collection: string, record: unknown): string | undefined;
}

/** Compiles lexicon documents (validated here: an unsupported definition throws, naming it). */
export function compileLexicons(documents: readonly unknown[]): LexiconValidator {
  const defs = new Map<string, { nsid: string; def: Def }>();
  for (const doc of documents) {
    if (!isDef(doc) || typeof doc['id'] !== 'string' || !isDef(doc['defs'])) throw new Error('a lexicon document needs an id and defs');
    for (const [name, def] of Object.entries(doc['defs'])) {
      if (!isDef(def)) throw new Error(`lexicon ${doc['id']}#${name} is not an object`);
      defs.set(typeId(doc['id'], name), { nsid: doc['id'], def });
    }
  }
  const compiled = new Map<string, Check>();
  const records = new Map<string, Check>();
  /** Named definitions referred to but not compiled yet: compiled before this returns, each once. */
  const pending: (() => void)[] = [];

  /**
   * The check of a named definition. A reference returns a forwarding check at once and the definition is compiled
   * afterwards, so definitions may refer to each other in cycles.
   */
  function named(id: string): Check {
    let check = compiled.get(id);
    if (check !== undefined) return check;
    const entry = defs.get(id);
    if (entry === undefined) throw new Error(`lexicon definition ${id} is not known`);
    let inner: Check = () => {
      throw new Error(`lexicon definition ${id} used before it was compiled`);
    };
    pending.push(() => {
      inner = compileDef(entry.nsid, id, entry.def);
    });
    check = (value) => inner(value);
    compiled.set(id, check);
    return check;
  }

  function compileDef(nsid: string, id: string, def: Def): Check {
    if (def['type'] === 'object') return typedObject(id, object(nsid, def));
    return field(nsid, def, id);
  }

  function field(nsid: string, def: Def, where: string): Check {
    switch (def['type']) {
      case 'string': return string(def, where);
      case 'integer': return integer(def);
      case 'boolean': return boolean(def);
      case 'null': return (v) => (v === null ? undefined : fail('must be null'));
      case 'bytes': return bytes(def);
      case 'cid-link': return (v) => (linkCid(v) !== undefined ? undefined : fail('must be a cid-link'));
      case 'blob': return blob(def);
      // Any object of data, but not a blob (the lexicon specification's rule; no AppView record has such a field).
      case 'unknown': return (v) => (isPlainMap(v) && v['$type'] !== 'blob' && isLexValue(v) ? undefined : fail('must be an object'));
      case 'array': return array(nsid, def, where);
      case 'object': return object(nsid, def);
      case 'ref': return named(resolveRef(nsid, def['ref'], where));
      case 'union': return union(nsid, def, where);
      default: throw new Error(`lexicon ${where}: type ${JSON.stringify(def['type'])} is not supported in records`);
    }
  }

  function object(nsid: string, def: Def): Check {
    const properties = isDef(def['properties']) ? def['properties'] : {};
    const required = new Set(stringList(def['required']));
    const nullable = new Set(stringList(def['nullable']));
    const fields = Object.entries(properties).map(([key, prop]) => {
      if (!isDef(prop)) throw new Error(`lexicon ${nsid}: property ${key} is not an object`);
      return { key, required: required.has(key), nullable: nullable.has(key), check: field(nsid, prop, `${nsid} ${key}`) };
    });
    return (value) => {
      if (!isPlainMap(value)) return fail('must be an object');
      for (const f of fields) {
        const v = value[f.key];
        if (v === undefined) {
          if (f.required) return fail(`${f.key} is required`);
          continue;
        }
        if (v === null && f.nullable) continue;
        const issue = f.check(v);
        if (issue !== undefined) return issue.under(`.${f.key}`);
      }
      return undefined;
    };
  }

  function union(nsid: string, def: Def, where: string): Check {
    const members = new Map<string, Check>();
    for (const ref of stringList(def['refs'])) {
      const id = resolveRef(nsid, ref, where);
      members.set(id, named(id));
    }
    const closed = def['closed'] === true;
    return (value) => {
      if (!isPlainMap(value) || !('$type' in value)) return fail('must be an object with a $type');
      const $type = value['$type'];
      const member = typeof $type === 'string' ? members.get($type) : undefined;
      if (member !== undefined) return member(value);
      if (closed) return fail(`$type ${JSON.stringify($type)} is not one of ${[...members.keys()].join(', ')}`);
      return typeof $type === 'string' ? undefined : fail('$type must be a string');
    };
  }

  function array(nsid: string, def: Def, where: string): Check {
    if (!isDef(def['items'])) throw new Error(`lexicon ${where}: an array needs items`);
    const items = field(nsid, def['items'], where);
    const min = optionalNumber(def['minLength']);
    const max = optionalNumber(def['maxLength']);
    return (value) => {
      if (!Array.isArray(value)) return fail('must be an array');
      if (min !== undefined && value.length < min) return fail(`must have at least ${min} items`);
      if (max !== undefined && value.length > max) return fail(`must have at most ${max} items`);
      for (let i = 0; i < value.length; i++) {
        const issue = items(value[i]);
        if (issue !== undefined) return issue.under(`[${i}]`);
      }
      return undefined;
    };
  }

  for (const [id, { nsid, def }] of defs) {
    if (def['type'] !== 'record') continue;
    if (!isDef(def['record']) || def['record']['type'] !== 'object') throw new Error(`lexicon ${id}: a record needs an object`);
    const body = object(nsid, def['record']);
    records.set(id, (value) => {
      const issue = body(value);
      if (issue !== undefined) return issue;
      const $type = (value as Record<string, unknown>)['$type'];
      return $type === id ? undefined : fail(`$type must be ${id}, not ${JSON.stringify($type)}`);
    });
  }
  // Every definition a record could use is compiled now, so a document this cannot check fails here, not on a record.
  for (const [id, { def }] of defs) if (FIELD_TYPES.has(def['type'] as string)) named(id);
  for (let i = 0; i < pending.length; i++) (pending[i] as () => void)();

  return {
    collections: new Set(records.keys()),
    recordProblem(collection, record) {
      const check = records.get(collection);
      if (check === undefined) return undefined;
      return check(record)?.toString();
    },
  };
}

/** An object a `ref` names: its `$type`, when present, must be the definition's own id. */
function typedObject(id: string, body: Check): Check {
  return (value) => {
    if (isPlainMap(value) && value['$type'] !== undefined && value['$type'] !== id) {
      return fail(`$type must be ${id}, not ${JSON.stringify(value['$type'])}`);
    }
    return body(value);
  };
}

function string(def: Def, where: string): Check {
  const minLength = optionalNumber(def['minLength']);
  const maxLength = optionalNumber(def['maxLength']);
  const minGraphemes = optionalNumber(def['minGraphemes']);
  const maxGraphemes = optionalNumber(def['maxGraphemes']);
  const choices = def['enum'] === undefined ? undefined : new Set(stringList(def['enum']));
  const constant = typeof def['const'] === 'string' ? def['const'] : undefined;
  let format: ((value: string) => boolean) | undefined;
  if (def['format'] !== undefined) {
    format = STRING_FORMATS[def['format'] as keyof typeof STRING_FORMATS];
    if (format === undefined) throw new Error(`lexicon ${where}: string format ${JSON.stringify(def['format'])} is not known`);
  }
  const formatName = String(def['format']);
  return (value) => {
    if (typeof value !== 'string') return fail('must be a string');
    // A UTF-16 unit is at most 3 UTF-8 bytes, and a grapheme at least one unit: most strings skip the counting.
    if (minLength !== undefined && utf8Length(value) < minLength) return fail(`must be at least ${minLength} bytes`);
    if (maxLength !== undefined && value.length * 3 > maxLength && utf8Length(value) > maxLength) return fail(`must be at most ${maxLength} bytes`);
    if (minGraphemes !== undefined && (value.length < minGraphemes || graphemeLength(value) < minGraphemes)) {
      return fail(`must be at least ${minGraphemes} graphemes`);
    }
    if (maxGraphemes !== undefined && value.length > maxGraphemes && graphemeLength(value) > maxGraphemes) {
      return fail(`must be at most ${maxGraphemes} graphemes`);
    }
    if (format !== undefined && !format(value)) return fail(`must be a valid ${formatName}`);
    if (choices !== undefined && !choices.has(value)) return fail(`must be one of ${[...choices].join(', ')}`);
    if (constant !== undefined && value !== constant) return fail(`must be ${JSON.stringify(constant)}`);
    return undefined;
  };
}

function integer(def: Def): Check {
  const minimum = optionalNumber(def['minimum']);
  const maximum = optionalNumber(def['maximum']);
  const choices = Array.isArray(def['enum']) ? new Set(def['enum']) : undefined;
  const constant = typeof def['const'] === 'number' ? def['const'] : undefined;
  return (value) => {
    if (!Number.isSafeInteger(value)) return fail('must be an integer');
    const n = value as number;
    if (minimum !== undefined && n < minimum) return fail(`must be at least ${minimum}`);
    if (maximum !== undefined && n > maximum) return fail(`must be at most ${maximum}`);
    if (choices !== undefined && !choices.has(n)) return fail(`must be one of ${[...choices].join(', ')}`);
    if (constant !== undefined && n !== constant) return fail(`must be ${constant}`);
    return undefined;
  };
}

function boolean(def: Def): Check {
  const constant = typeof def['const'] === 'boolean' ? def['const'] : undefined;
  return (value) => {
    if (typeof value !== 'boolean') return fail('must be a boolean');
    if (constant !== undefined && value !== constant) return fail(`must be ${constant}`);
    return undefined;
  };
}

function bytes(def: Def): Check {
  const min = optionalNumber(def['minLength']);
  const max = optionalNumber(def['maxLength']);
  return (value) => {
    const length = bytesLength(value);
    if (length === undefined) return fail('must be bytes');
    if (min !== undefined && length < min) return fail(`must be at least ${min} bytes`);
    if (max !== undefined && length > max) return fail(`must be at most ${max} bytes`);
    return undefined;
  };
}

const RAW = 0x55;

/** Definition types a record's fields can use (queries, procedures, subscriptions, tokens and the like are skipped). */
const FIELD_TYPES = new Set(['object', 'string', 'integer', 'boolean', 'null', 'bytes', 'cid-link', 'blob', 'unknown', 'array', 'union', 'ref']);

function blob(def: Def): Check {
  const accept = def['accept'] === undefined ? undefined : stringList(def['accept']);
  const maxSize = optionalNumber(def['maxSize']);
  return (value) => {
    if (!isPlainMap(value) || value['$type'] !== 'blob') return fail('must be a blob');
    for (const key in value) {
      if (key === '$type' || key === 'ref' || key === 'mimeType' || key === 'size') continue;
      // The AppView's decoder drops a `__proto__` key holding a scalar (assigning it changes nothing).
      if (key === '__proto__' && (value[key] === null || typeof value[key] !== 'object')) continue;
      return fail(`a blob has no field ${key}`);
    }
    const { mimeType, size } = value;
    if (typeof mimeType !== 'string' || !mimeType.includes('/')) return fail('a blob needs a mimeType');
    if (!Number.isSafeInteger(size) || (size as number) < 0) return fail('a blob needs a size');
    const cid = linkCid(value['ref']);
    if (cid === undefined || cid.version !== 1 || cid.code !== RAW) return fail('a blob ref must be a raw CIDv1 link');
    if (accept !== undefined && !acceptsMime(accept, mimeType)) return fail(`mimeType ${mimeType} is not one of ${accept.join(', ')}`);
    if (maxSize !== undefined && (size as number) > maxSize) return fail(`must be at most ${maxSize} bytes`);
    return undefined;
  };
}

function acceptsMime(accept: readonly string[], mime: string): boolean {
  if (accept.includes('*/*') || accept.includes(mime)) return true;
  return accept.some((a) => a.endsWith('/*') && mime.startsWith(a.slice(0, -1)));
}

/** The id a union's `$type` names a definition by: `nsid` for main, `nsid#name` otherwise. */
function typeId(nsid: string, name: string): string {
  return name === 'main' ? nsid : `${nsid}#${name}`;
}

function resolveRef(nsid: string, ref: unknown, where: string): string {
  if (typeof ref !== 'string' || ref.length === 0) throw new Error(`lexicon ${where}: a ref must be a string`);
  const [base, name = 'main'] = ref.split('#');
  return typeId(base === '' ? nsid : (base as string), name);
}

function isDef(value: unknown): value is Def {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function optionalNumber(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}
