// Edge parser for entries of repo_backfill: field `repo` holds one entry's JSON (functions/events.ts has the contract).
import { parseRepoBackfillEntry, type ParseResult, type RepoBackfillEntry } from '../../functions/events.ts';
import { jsonField } from './json-field.ts';

export function parseRepoFields(fields: Record<string, string>): ParseResult<RepoBackfillEntry> {
  const json = jsonField(fields, 'repo');
  return json.ok ? parseRepoBackfillEntry(json.value) : json;
}
