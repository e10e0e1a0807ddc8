// The edge parser of firehose stream entries: field `event` holds one event's JSON (README.md, "Contracts").
import { describe, expect, it } from 'vitest';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { account, write } from '../../helpers/events.ts';

describe('parseEventFields', () => {
  it('returns the event an entry carries, as the ingester wrote it', () => {
    const event = write({ did: 'did:plc:abc', collection: 'app.bsky.feed.like', rkey: '3kabc', rev: 1, record: { $type: 'app.bsky.feed.like' } });
    expect(parseEventFields({ event: JSON.stringify(event) })).toEqual({ ok: true, value: event });
  });

  it("reads rsky's account status spelling as the lexicon's", () => {
    const event = { ...account('did:plc:abc', false, undefined, 5), status: 'Takendown' };
    expect(parseEventFields({ event: JSON.stringify(event) })).toEqual({ ok: true, value: { ...event, status: 'takendown' } });
  });

  it('rejects an entry without `event`, with JSON that is not JSON, or with an event breaking the contract', () => {
    expect(parseEventFields({ repo: '{}' })).toEqual({ ok: false, message: 'entry has no `event` field' });
    expect(parseEventFields({ event: '{"type":' })).toEqual({ ok: false, message: '`event` is not JSON' });
    expect(parseEventFields({ event: '{"type":"like"}' })).toEqual({ ok: false, message: 'unknown event type "like"' });
    expect(parseEventFields({ event: '{"type":"identity","time":"2026-01-01T00:00:00Z"}' })).toEqual({
      ok: false,
      message: 'did must be a non-empty string',
    });
  });
});
