// Server settings the index's statements rely on, read once when a process that writes the index starts. The index
// reads keys by lists (`= any($1::text[])`); with no planner statistics Postgres takes default selectivities and reads
// a list of a few hundred keys on a column that is not unique as a large share of the table. The statements that
// planned whole-table reads that way (258 against 53 µs of Postgres CPU per record in the network backfill) now look
// each key up on their own, but the rest still count on statistics (README, Performance).
import type { SqlExecutor } from '../../functions/ports.ts';
import { checkRows } from '../../functions/sql-rows.ts';

/** The settings the start-up checks judge, as pg_settings reports them: the value and its unit ('' for none). */
export type ServerSettings = ReadonlyMap<string, { setting: string; unit: string }>;

/** Every setting the checks below judge, in one query. */
export async function readServerSettings(sql: SqlExecutor): Promise<ServerSettings> {
  const rows = checkRows(
    await sql.query(`select name, setting, coalesce(unit, '') as unit from pg_settings where name = any($1::text[])`, [[
      'autovacuum', 'track_counts', 'shared_buffers', 'max_wal_size',
    ]]),
    { name: 'string', setting: 'string', unit: 'string' },
  );
  return new Map(rows.map((r) => [r.name, { setting: r.setting, unit: r.unit }]));
}

/** What is set otherwise than the index needs, one sentence each; empty when nothing is. */
export function serverSettingProblems(settings: ServerSettings): string[] {
  const problems: string[] = [];
  if (settings.get('autovacuum')?.setting === 'off' || settings.get('track_counts')?.setting === 'off') {
    problems.push('autovacuum is off: the index\'s plans count on planner statistics; turn it on, or ANALYZE the index tables as they grow');
  }
  return problems;
}

// Throughput, not correctness: settings at Postgres's defaults that slow a sustained index. Measured (README,
// Performance, "A long run"): 240,000 records into one schema in 8 rounds; with the defaults the last three rounds
// ran at 9,800 to 10,700 records/s, with larger shared_buffers and max_wal_size at 12,900 to 13,100 (the first three
// alike either way), Postgres using 77 instead of 87 to 92 µs of CPU per record.

/** Below this, the index's B-trees outgrow the buffer cache early and batches read pages back from the OS. */
export const MIN_SHARED_BUFFERS_BYTES = 512 * 2 ** 20;
/**
 * Below this, WAL volume rather than time decides checkpoints: at about 4 KB of WAL per record, 1 GB (the default)
 * is a checkpoint every 250,000 records or so, and after each one the first change to every page writes it whole.
 */
export const MIN_MAX_WAL_SIZE_BYTES = 4 * 2 ** 30;

export interface WriteSettings {
  sharedBuffersBytes: number;
  maxWalSizeBytes: number;
}

/** Advice for these settings, one sentence each; empty when none. */
export function writeSettingAdvice(s: WriteSettings): string[] {
  const advice: string[] = [];
  if (s.sharedBuffersBytes < MIN_SHARED_BUFFERS_BYTES) {
    advice.push(`shared_buffers is ${sizeOf(s.sharedBuffersBytes)}: the index's B-trees soon outgrow it and every batch reads pages back from the OS; a quarter of the server's memory is the usual setting`);
  }
  if (s.maxWalSizeBytes < MIN_MAX_WAL_SIZE_BYTES) {
    advice.push(`max_wal_size is ${sizeOf(s.maxWalSizeBytes)}: the index writes about 4 KB of WAL per record, so checkpoints come every few hundred thousand records, each followed by whole-page WAL writes; 8 GB or more, with checkpoint_timeout of 15 to 30 minutes, lets time decide them`);
  }
  return advice;
}

/** The write settings among `settings`, in bytes; throws when one is missing or not a size. */
export function writeSettingsOf(settings: ServerSettings): WriteSettings {
  const bytes = (name: string): number => {
    const s = settings.get(name);
    if (s === undefined) throw new Error(`pg_settings has no ${name}`);
    return settingBytes(s.setting, s.unit);
  };
  return { sharedBuffersBytes: bytes('shared_buffers'), maxWalSizeBytes: bytes('max_wal_size') };
}

const UNIT_BYTES: Record<string, number> = { B: 1, kB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 };

/**
 * A size as Postgres writes it: a number with a unit ('512MB', '8GB'), or pg_settings' number of units ('16384' of
 * '8kB'). Throws on anything else.
 */
export function settingBytes(value: string, unit = ''): number {
  const count = /^(\d+)\s*([kMGT]?B)?$/.exec(value.trim());
  const per = /^(\d*)([kMGT]?B)$/.exec(unit);
  if (count === null || (unit !== '' && per === null)) throw new Error(`not a size: ${JSON.stringify(value)} ${JSON.stringify(unit)}`);
  if (count[2] !== undefined) return Number(count[1]) * (UNIT_BYTES[count[2]] ?? 1);
  if (per === null) return Number(count[1]);
  return Number(count[1]) * Number(per[1] || 1) * (UNIT_BYTES[per[2] as string] ?? 1);
}

/** A size as Postgres prints it (whole GB, else MB). */
const sizeOf = (bytes: number): string => (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GB` : `${Math.round(bytes / 2 ** 20)} MB`);
