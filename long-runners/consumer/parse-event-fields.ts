// Edge parser for entries of firehose_live / firehose_backfill: field `event` holds one event's JSON.
import { parseStreamEvent, type ParseResult, type StreamEvent } from '../../functions/events.ts';
import { jsonField } from './json-field.ts';

export function parseEventFields(fields: Record<string, string>): ParseResult<StreamEvent> {
  const json = jsonField(fields, 'event');
  return json.ok ? parseStreamEvent(json.value) : json;
}
