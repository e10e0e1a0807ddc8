// How a batch's rows reach Postgres. Statements read named row sets (`record`, `like`, `feed_item`, ...) from a FROM
// item that this module writes; where the rows come from depends on the connection:
// - COPY (the Sql port has `copyRows`: postgres.js under Node) for a step with at least `copyMinRows` rows: every set
//   goes in ONE `COPY ... FROM STDIN` into a temporary staging table (text columns, tagged by set name, emptied at
//   commit), and the statements select their set from it with casts. A COPY costs two more round trips than a
//   statement carrying its rows, which a handful of rows does not win back (README, Performance);
// - multi-row parameters elsewhere (Workers, PGlite, a port without COPY) and for smaller steps: each set travels as
//   one text parameter (rows.ts: rowSource).
// Both give the same rows (tests/integration/index runs every index test in both modes); only the transport differs.
import type { SqlExecutor, SqlValue } from '../ports.ts';
import { q, rowSource, textValue, type Columns, type Row } from './rows.ts';

/** The staging table: a set name and up to STAGE_WIDTH text columns, the set's columns in their declared order. */
export const STAGE_TABLE = 'skytide_stage';
export const STAGE_WIDTH = 16;

/** Only the rows whose `key` column is one of `uris`. */
export interface RowFilter {
  key: string;
  uris: ReadonlySet<string>;
}

export interface StagedSets {
  /**
   * A FROM item (aliased `x`) with the named set's columns by name and type, optionally only the rows `only` keeps;
   * adds the parameters it needs to `params`.
   */
  source(name: string, columns: Columns, params: SqlValue[], only?: RowFilter): string;
}

type Sets = ReadonlyMap<string, { columns: Columns; rows: readonly Row[] }>;

/** Multi-row statements: each set is one parameter. */
export function parameterSets(sets: Sets): StagedSets {
  return {
    source(name, columns, params, only) {
      const rows = sets.get(name)?.rows ?? [];
      return rowSource(columns, only === undefined ? rows : rows.filter((r) => only.uris.has(r[only.key] as string)), params);
    },
  };
}

const filterParams = new WeakMap<SqlValue[], Map<ReadonlySet<string>, number>>();

function stagedSource(name: string, columns: Columns, params: SqlValue[], only: RowFilter | undefined): string {
  const names = Object.keys(columns);
  const select = Object.entries(columns)
    .map(([column, type], i) => `c${i + 1}::${type} as ${q(column)}`)
    .join(', ');
  let where = '';
  if (only !== undefined) {
    // One parameter per filter and statement, however many sets it filters.
    let bound = filterParams.get(params);
    if (bound === undefined) filterParams.set(params, (bound = new Map()));
    let index = bound.get(only.uris);
    if (index === undefined) bound.set(only.uris, (index = params.push(JSON.stringify([...only.uris]))));
    where = ` and c${names.indexOf(only.key) + 1} in (select json_array_elements_text($${index}::text::json))`;
  }
  // NOTE: set names are ours (table names), never input, so they are written as literals.
  return `(select ${select} from pg_temp.${STAGE_TABLE} where t = '${name.replaceAll("'", "''")}'${where}) as x`;
}

/** Transactions (their executors) that already made sure the staging table exists on their connection. */
const created = new WeakSet<SqlExecutor>();

let stageDdl: string | undefined;
function createStage(): string {
  stageDdl ??=
    `create temp table if not exists ${STAGE_TABLE} (t text not null, ` +
    Array.from({ length: STAGE_WIDTH }, (_, i) => `c${i + 1} text`).join(', ') +
    `) on commit delete rows`;
  return stageDdl;
}

/**
 * Makes these row sets readable by the step's statements: one COPY when the connection has it, parameters
 * otherwise. A set's rows must not be staged twice in one transaction (names are unique per batch).
 */
export async function stageSets(tx: SqlExecutor, sets: Sets): Promise<StagedSets> {
  const copy = tx.copyRows;
  let count = 0;
  for (const { rows } of sets.values()) count += rows.length;
  if (copy === undefined || count === 0 || count < (tx.copyMinRows ?? 0)) return parameterSets(sets);
  const lines: (string | null)[][] = [];
  for (const [name, { columns, rows }] of sets) {
    const names = Object.keys(columns);
    if (names.length > STAGE_WIDTH) throw new Error(`row set ${name} has ${names.length} columns, the stage holds ${STAGE_WIDTH}`);
    for (const row of rows) {
      const line: (string | null)[] = [name];
      for (const column of names) line.push(textValue(row[column]));
      while (line.length <= STAGE_WIDTH) line.push(null);
      lines.push(line);
    }
  }
  if (!created.has(tx)) {
    await tx.query(createStage());
    created.add(tx);
  }
  await copy.call(tx, STAGE_TABLE, ['t', ...Array.from({ length: STAGE_WIDTH }, (_, i) => `c${i + 1}`)], lines);
  return { source: (name, columns, params, only) => stagedSource(name, columns, params, only) };
}
