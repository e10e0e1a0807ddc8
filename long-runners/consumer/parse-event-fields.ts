// Edge parser for entries of firehose_live / firehose_backfill: field `event` holds one event's JSON.
import { parseStreamEvent, type ParseResult, type StreamEvent } from '../../functions/events.ts';

export function parseEventFields(fields: Record<string, string>): ParseResult<StreamEvent> {
  const raw = fields['event'];
  if (raw === undefined) return { ok: false, message: 'entry has no `event` field' };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, message: '`event` is not JSON' };
  }
  return parseStreamEvent(json);
}
