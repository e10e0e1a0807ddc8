// Edge parser for repo_backfill entries: field `repo` holds {did, host?, ...} (rsky's BackfillEvent, or ours with a
// `reason`); unknown fields are ignored.
import type { ParseResult } from '../../functions/events.ts';
import type { BackfillItem } from '../../functions/backfill-repo/handler.ts';
import { jsonField } from './json-field.ts';

export function parseRepoFields(fields: Record<string, string>): ParseResult<BackfillItem> {
  const json = jsonField(fields, 'repo');
  if (!json.ok) return json;
  if (typeof json.value !== 'object' || json.value === null) return { ok: false, message: '`repo` is not an object' };
  const { did, host, reason } = json.value as { did?: unknown; host?: unknown; reason?: unknown };
  if (typeof did !== 'string' || did.length === 0) return { ok: false, message: '`repo.did` is not a string' };
  return { ok: true, value: { did, ...(typeof host === 'string' ? { host } : {}), ...(typeof reason === 'string' ? { reason } : {}) } };
}
