// What is in force (label spec, "lifecycle"): per (src, uri, val) one label decides, the newest by version.ts's
// order across every cid (the newest `cts`; a negation wins a tie), and it is in force when it is not a negation and
// its `exp`, if any, is still ahead of the clock. Expiry is decided here, at read time, by the Clock port, so nothing
// rewrites rows when time passes and tests can move time. Ozone's own queryLabels answers every row, negations
// included; this answers only what those rows imply is in force, in the lexicon's shape
// (com.atproto.label.queryLabels), paged by an opaque cursor over (uri, src, val).
import type { Clock, Sql, SqlExecutor } from '../ports.ts';
import { DependencyError, errorCodeIn } from '../errors.ts';
import { checkRows, type RowOf } from '../sql-rows.ts';
import { instantKeyOfMs } from './instant.ts';
import { labelToLex, type Label } from './label.ts';
import { versionTerms } from './version.ts';
import type { JsonObject } from '../events.ts';

export const QUERY_LABELS_MAX_LIMIT = 250;
export const QUERY_LABELS_DEFAULT_LIMIT = 50;
/** More patterns than this make one query too broad to plan well; the lexicon sets no bound, so we name ours. */
export const MAX_URI_PATTERNS = 100;

export interface QueryLabelsParams {
  /** Full URIs, or prefixes ending in `*`; a lone `*` matches every subject. */
  uriPatterns: readonly string[];
  sources?: readonly string[];
  limit: number;
  cursor?: string;
}

export interface QueryLabelsResult {
  cursor?: string;
  labels: JsonObject[];
}

/** The cursor names the last (uri, src, val) answered; it is opaque to callers. */
export function encodeCursor(key: [string, string, string]): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(key)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeCursor(cursor: string): [string, string, string] | undefined {
  try {
    const binary = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
    const key: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (Array.isArray(key) && key.length === 3 && key.every((k) => typeof k === 'string')) return key as [string, string, string];
  } catch {
    // Not one of ours: the caller answers InvalidRequest.
  }
  return undefined;
}

/** `LIKE` pattern of a prefix: `%`, `_` and `\` match themselves. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The decisive version of each (src, uri, val) among the rows `where` selects, in (uri, src, val) order. */
function currentSql(where: string): string {
  const order = versionTerms('l').map((t) => `${t} desc`).join(', ');
  return `select distinct on (l.uri, l.src, l.val) l.src, l.uri, l.cid, l.val, l.neg, l."negSigned", l.cts, coalesce(l."labelExp", l.exp) as exp, l."labelVer" as ver, l."labelSig" as sig, l."expKey"
    from label_version l where ${where} order by l.uri, l.src, l.val, ${order}`;
}

const LABEL_ROW = { src: 'string', uri: 'string', cid: 'string', val: 'string', neg: 'boolean', negSigned: 'boolean?', cts: 'string', exp: 'string?', ver: 'number?', sig: 'bytes?' } as const;
type LabelDbRow = RowOf<typeof LABEL_ROW>;

function rowToLabel(row: LabelDbRow): Label {
  const label: Label = { src: row.src, uri: row.uri, val: row.val, cts: row.cts };
  if (row.ver !== null) label.ver = row.ver;
  if (row.cid !== '') label.cid = row.cid;
  // `neg: false` only when it was signed so (migration 0011); a row older than that names `neg` only when true.
  if (row.neg) label.neg = true;
  else if (row.negSigned === true) label.neg = false;
  if (row.exp !== null) label.exp = row.exp;
  if (row.sig !== null) label.sig = new Uint8Array(row.sig);
  return label;
}

/** Labels in force for the subjects and sources asked about; parameters already validated by the caller. */
export async function queryLabels(sql: SqlExecutor, clock: Clock, params: QueryLabelsParams): Promise<QueryLabelsResult> {
  const values: (string | number | readonly string[])[] = [];
  const bind = (v: string | number | readonly string[]) => {
    values.push(v);
    return `$${values.length}`;
  };
  const where: string[] = [];
  if (!params.uriPatterns.includes('*')) {
    const exact = params.uriPatterns.filter((p) => !p.endsWith('*'));
    const prefixes = params.uriPatterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
    const any: string[] = [];
    if (exact.length > 0) any.push(`l.uri = any(${bind(exact)}::text[])`);
    for (const prefix of prefixes) any.push(`l.uri like ${bind(likePrefix(prefix))}`);
    where.push(`(${any.join(' or ')})`);
  }
  if (params.sources !== undefined && params.sources.length > 0) where.push(`l.src = any(${bind(params.sources)}::text[])`);
  if (params.cursor !== undefined) {
    const key = decodeCursor(params.cursor);
    if (key !== undefined) where.push(`(l.uri, l.src, l.val) > (${bind(key[0])}, ${bind(key[1])}, ${bind(key[2])})`);
  }
  const now = bind(instantKeyOfMs(clock.now()));
  const limit = bind(params.limit);
  const rows = checkRows(await sql.query(
    `select src, uri, cid, val, neg, "negSigned", cts, exp, ver, sig from (${currentSql(where.length === 0 ? 'true' : where.join(' and '))}) c
     where not c.neg and (c."expKey" is null or c."expKey" > ${now})
     order by c.uri, c.src, c.val limit ${limit}`,
    values,
  ), LABEL_ROW);
  const labels = rows.map((r) => labelToLex(rowToLabel(r)));
  const last = rows.at(-1);
  return last !== undefined && rows.length === params.limit ? { cursor: encodeCursor([last.uri, last.src, last.val]), labels } : { labels };
}

/**
 * How long queryLabels may wait on Postgres unless told (the HTTP route passes LABEL_QUERY_TIMEOUT_MS, whose default
 * this is). A slow plan, or a lock held on `label_version` (a migration, a VACUUM FULL, a stuck session), would otherwise hold
 * the request, its connection and the caller forever; past this the caller gets a 503 with Retry-After instead.
 */
export const QUERY_LABELS_TIMEOUT_MS = 10_000;

/** SQLSTATE query_canceled: what a statement stopped by statement_timeout fails with. */
const QUERY_CANCELED = '57014';

/**
 * queryLabels under a statement timeout: in a read-only transaction whose statement_timeout (SET LOCAL, so the pooled
 * connection keeps its own) is `timeoutMs`. Postgres cancelling it is answered as Postgres unavailable (a
 * DependencyError, which the HTTP layer turns into 503 `dependency_unavailable` with Retry-After): no verdict on the
 * request, and the classification the batch paths use for 57014 (left to bisection there) is untouched.
 */
export async function queryLabelsInTime(sql: Sql, clock: Clock, params: QueryLabelsParams, timeoutMs = QUERY_LABELS_TIMEOUT_MS): Promise<QueryLabelsResult> {
  try {
    return await sql.transaction(async (tx) => {
      await tx.query(`select set_config('statement_timeout', $1, true), set_config('transaction_read_only', 'on', true)`, [`${Math.max(1, Math.trunc(timeoutMs))}ms`]);
      return queryLabels(tx, clock, params);
    });
  } catch (err) {
    if (errorCodeIn(err) !== QUERY_CANCELED) throw err;
    throw new DependencyError('postgres', `postgres did not answer queryLabels within ${timeoutMs} ms (statement_timeout)`, { code: QUERY_CANCELED, timeoutMs }, { cause: err });
  }
}

export interface LabelStateCounts {
  /** (src, uri, val) whose decisive label is a label, not expired. */
  inForce: number;
  /** ... a label whose exp has passed. */
  expired: number;
  /** ... a negation. */
  negated: number;
  bySource: { src: string; inForce: number; expired: number; negated: number }[];
}

/** Counts every (src, uri, val) by state: a full scan, so callers cache it (never one per metrics scrape). */
export async function countLabelStates(sql: SqlExecutor, clock: Clock): Promise<LabelStateCounts> {
  const rows = checkRows(await sql.query(
    `select src,
       count(*) filter (where not neg and ("expKey" is null or "expKey" > $1))::int as "inForce",
       count(*) filter (where not neg and "expKey" <= $1)::int as expired,
       count(*) filter (where neg)::int as negated
     from (${currentSql('true')}) c group by src order by src`,
    [instantKeyOfMs(clock.now())],
  ), { src: 'string', inForce: 'number', expired: 'number', negated: 'number' });
  const total = { inForce: 0, expired: 0, negated: 0 };
  for (const r of rows) {
    total.inForce += r.inForce;
    total.expired += r.expired;
    total.negated += r.negated;
  }
  return { ...total, bySource: rows };
}
