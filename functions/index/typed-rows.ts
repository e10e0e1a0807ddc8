// The typed rows of every row plugin of a batch in two statements: the removals (after the rev gate's statement in
// processor.ts, or for an account's purge) and one insert for all new rows. Each is a chain of data-modifying CTEs,
// one per table (tables in one fixed order, rows in key order, so concurrent batches take row locks in one order),
// and a final select hands back the columns the counts need, so the aggregate deltas come from the rows really
// inserted or deleted, exactly as a statement per table would.
import type { SqlExecutor, SqlRow, SqlValue } from '../ports.ts';
import type { AggregateDeltas } from './aggregates.ts';
import { q, type Row } from './rows.ts';
import type { StagedSets } from './staging.ts';
import type { IndexedRecord, RowPlugin, TableSpec } from './plugins/types.ts';
import { checkRows } from '../sql-rows.ts';


interface Counted {
  spec: TableSpec;
  sign: 1 | -1;
}

/**
 * Runs `text`, whose final select yields (t: index into `counted`, r: a returned row as JSON), and applies counts;
 * returns the `k` (key) of every row returned that has one.
 */
async function runCounted(tx: SqlExecutor, text: string, params: SqlValue[], counted: readonly Counted[], deltas: AggregateDeltas): Promise<Set<string>> {
  const rows = checkRows(await tx.query(text, params), { t: 'number', r: 'string' });
  const keys = new Set<string>();
  for (const { t, r } of rows) {
    const c = counted[t];
    if (c === undefined) continue;
    const row = JSON.parse(r) as SqlRow;
    if (typeof row['k'] === 'string') keys.add(row['k']);
    c.spec.count?.(row, c.sign, deltas);
  }
  return keys;
}

function finalSelect(ctes: readonly { name: string; counted: number | undefined }[]): string {
  const parts = ctes.filter((c) => c.counted !== undefined).map((c) => `select ${c.counted} as t, row_to_json(${c.name})::text as r from ${c.name}`);
  return parts.length === 0 ? 'select 0 as t, null::text as r where false' : parts.join(' union all ');
}

/**
 * Removes every typed row of these records (an update, a delete, an account's purge), counting what went, in ONE
 * statement; the rows of `kept` tables (plugins/types.ts) of `kept` URIs stay, for insertRowPluginRows to judge.
 */
export async function removeRowPluginRows(
  tx: SqlExecutor, byPlugin: ReadonlyMap<RowPlugin, readonly string[]>, deltas: AggregateDeltas, kept?: ReadonlySet<string>,
): Promise<void> {
  const plugins = [...byPlugin].filter(([, uris]) => uris.length > 0).map(([plugin]) => plugin);
  if (plugins.length === 0) return;
  // Every table is asked for every URI: a URI names one collection, so only its own plugin's tables hold rows of it.
  const params: SqlValue[] = [[...byPlugin.values()].flat()];
  // Only a batch that updates such a record adds the parameter.
  if (kept !== undefined && kept.size > 0) params.push([...kept]);
  const counted: Counted[] = [];
  const ctes = removalCtes(plugins, '$1', counted, params.length > 1 ? '$2' : undefined);
  await runCounted(tx, `with ${ctes.map((c) => c.text).join(', ')} ${finalSelect(ctes)}`, params, counted, deltas);
}

/** The typed rows of a batch's live records by table, and per plugin the URIs whose records lack its shape. */
export interface DescribedRows {
  tables: Map<string, { spec: TableSpec; rows: Row[] }>;
  invalid: Map<RowPlugin, string[]>;
}

/** `notifiedBy`: records whose `kept` tables' rows an earlier version of theirs makes (kept-notifications.ts). */
export function describeRows(byPlugin: ReadonlyMap<RowPlugin, readonly IndexedRecord[]>, notifiedBy?: ReadonlyMap<string, IndexedRecord>): DescribedRows {
  const invalid = new Map<RowPlugin, string[]>();
  const tables = new Map<string, { spec: TableSpec; rows: Row[] }>();
  const earlier = notifiedBy !== undefined && notifiedBy.size > 0 ? notifiedBy : undefined;
  for (const [plugin, records] of byPlugin) {
    const bad: string[] = [];
    for (const record of records) {
      const rows = plugin.rows(record);
      if (rows === undefined) {
        bad.push(record.uri);
        continue;
      }
      const first = earlier?.get(record.uri);
      const firstRows = first === undefined ? undefined : plugin.rows(first);
      for (const spec of plugin.tables) {
        const mine = firstRows !== undefined && spec.kept !== undefined ? firstRows[spec.table] : rows[spec.table];
        if (mine === undefined || mine.length === 0) continue;
        const entry = tables.get(spec.table);
        if (entry === undefined) tables.set(spec.table, { spec, rows: [...mine] });
        else entry.rows.push(...mine);
      }
    }
    if (bad.length > 0) invalid.set(plugin, bad);
  }
  return { tables, invalid };
}

const byTable = (a: { spec: TableSpec }, b: { spec: TableSpec }) => (a.spec.table < b.spec.table ? -1 : a.spec.table > b.spec.table ? 1 : 0);

/**
 * CTEs deleting the typed rows of every record the text[] parameter `uris` names from these plugins' tables, each
 * returning what its counts read; `counted` receives their entries. The keys are matched with `= any($n)`, as every
 * other key list of the index is: a condition on the key column itself rather than a join with an unnested list.
 */
function removalCtes(plugins: Iterable<RowPlugin>, uris: string, counted: Counted[], kept?: string): { name: string; counted: number | undefined; text: string }[] {
  const specs = new Map<string, TableSpec>();
  for (const plugin of plugins) for (const spec of plugin.tables) specs.set(spec.table, spec);
  return [...specs.values()]
    .sort((a, b) => (a.table < b.table ? -1 : 1))
    .map((spec, i) => {
      const name = `r${i}`;
      const returning = spec.count === undefined ? '' : ` returning ${(spec.returning ?? []).map(q).join(', ') || '1 as one'}`;
      const index = spec.count === undefined ? undefined : counted.push({ spec, sign: -1 }) - 1;
      const keep = kept === undefined || spec.kept === undefined ? '' : ` and ${q(spec.key)} <> all(${kept}::text[])`;
      return { name, counted: index, text: `${name} as (delete from ${q(spec.table)} where ${q(spec.key)} = any(${uris}::text[])${spec.removeOnly === undefined ? '' : ` and (${spec.removeOnly})`}${keep}${returning})` };
    });
}

/**
 * Writes the staged typed rows of the records in `only` (those the rev gate let through), in ONE statement: main
 * tables first, dependent tables only for records whose main row was inserted here. Returns the URIs whose main row
 * was inserted (a row already there, or one a UNIQUE constraint refused, was not: duplicates.ts). The rows of a
 * `kept` table of a `kept` URI that removeRowPluginRows left stay when its main row came back and its new rows hold
 * one equal to them in the table's `kept` columns (then none of its new rows is written); otherwise they go.
 */
export async function insertRowPluginRows(
  tx: SqlExecutor,
  described: DescribedRows,
  staged: StagedSets,
  only: ReadonlySet<string>,
  deltas: AggregateDeltas,
  kept?: ReadonlySet<string>,
): Promise<Set<string>> {
  const tables = [...described.tables.values()];
  const mains = tables.filter((t) => t.spec.dependent !== true).sort(byTable);
  const dependents = tables.filter((t) => t.spec.dependent === true).sort(byTable);
  if (mains.length === 0 || only.size === 0) return new Set();
  const params: SqlValue[] = [];
  const counted: Counted[] = [];
  const ctes: { name: string; counted: number | undefined; text: string }[] = [];
  const insert = (spec: TableSpec, name: string, from: string, where: string, returning: string[]) => {
    const columns = Object.keys(spec.columns).map(q).join(', ');
    const back = returning.length === 0 ? '' : ` returning ${returning.join(', ')}`;
    // A main table's rows come back (their key `k`) even without counts.
    const index = spec.count === undefined && spec.dependent === true ? undefined : counted.push({ spec, sign: 1 }) - 1;
    ctes.push({
      name,
      counted: index,
      text: `${name} as (insert into ${q(spec.table)} (${columns}) select ${columns} from ${from}${where} order by ${q(spec.key)}${spec.onConflict === undefined ? '' : ` on conflict ${spec.onConflict}`}${back})`,
    });
  };
  mains.forEach(({ spec }, i) =>
    insert(spec, `m${i}`, staged.source(spec.table, spec.columns, params, { key: spec.key, uris: only }), '', [`${q(spec.key)} as k`, ...(spec.returning ?? []).map(q)]),
  );
  if (dependents.length > 0) {
    ctes.push({ name: 'fresh', counted: undefined, text: `fresh as (${mains.map((_, i) => `select k from m${i}`).join(' union all ')})` });
    dependents.forEach(({ spec }, i) => {
      let keep = '';
      if (kept !== undefined && kept.size > 0 && spec.kept !== undefined) {
        // Only a batch that updates such a record adds these (kept-notifications.ts).
        const key = q(spec.key);
        params.push([...kept]);
        const uris = `$${params.length}::text[]`;
        const own = spec.removeOnly === undefined ? '' : ` and (${spec.removeOnly})`;
        // `kept` names only records whose row before the batch named the subject the new one names (sameSubjects):
        // those whose main row came back keep what they had and write nothing new, notifications gone included.
        ctes.push(
          { name: `kk${i}`, counted: undefined, text: `kk${i} as (select k from fresh where k = any(${uris}))` },
          { name: `gone${i}`, counted: undefined, text: `gone${i} as (delete from ${q(spec.table)} where ${key} = any(${uris})${own} and ${key} not in (select k from kk${i}))` },
        );
        keep = ` and x.${key} not in (select k from kk${i})`;
      }
      insert(spec, `d${i}`, staged.source(spec.table, spec.columns, params), ` where x.${q(spec.key)} in (select k from fresh)${keep}`, spec.count === undefined ? [] : (spec.returning ?? []).map(q));
    });
  }
  const text = `with ${ctes.map((c) => c.text).join(', ')} ${finalSelect(ctes)}`;
  return runCounted(tx, text, params, counted, deltas);
}
