// Stream entries carry one JSON document in one named field (rsky's format); this reads it or says what is wrong.
import type { ParseResult } from '../../functions/events.ts';

export function jsonField(fields: Record<string, string>, name: string): ParseResult<unknown> {
  const raw = fields[name];
  if (raw === undefined) return { ok: false, message: `entry has no \`${name}\` field` };
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false, message: `\`${name}\` is not JSON` };
  }
}
