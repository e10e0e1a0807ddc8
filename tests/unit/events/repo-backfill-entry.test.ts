// The repo_backfill entry contract (functions/events.ts): rsky's BackfillEvent {did, host, rev, status, active} and
// the live path's {did, reason}. Known fields of the wrong type are named; unknown fields are ignored.
import { describe, expect, it } from 'vitest';
import { parseRepoBackfillEntry } from '../../../functions/events.ts';
import { parseRepoFields } from '../../../long-runners/consumer/parse-repo-fields.ts';

describe('repo_backfill entries', () => {
  it('keeps every field the sweeper writes: rev, status (lowercased, as rsky wrote the enum name) and active', () => {
    const entry = { did: 'did:plc:abc', host: 'relay.example', rev: '3l4oq2p7ipa2a', active: false, status: 'Takendown', extra: 1 };
    expect(parseRepoBackfillEntry(entry)).toEqual({
      ok: true,
      value: { did: 'did:plc:abc', host: 'relay.example', rev: '3l4oq2p7ipa2a', active: false, status: 'takendown' },
    });
  });

  it("reads the live path's resync requests, and treats null as absent", () => {
    expect(parseRepoFields({ repo: JSON.stringify({ did: 'did:plc:abc', reason: 'prev_data_mismatch', rev: null }) })).toEqual({
      ok: true,
      value: { did: 'did:plc:abc', reason: 'prev_data_mismatch' },
    });
  });

  it('names what is wrong', () => {
    expect(parseRepoBackfillEntry({ did: 'did:plc:abc', rev: 5, active: 'yes' })).toEqual({ ok: false, message: 'rev must be a string; active must be a boolean' });
    expect(parseRepoBackfillEntry({ host: 'relay.example' })).toEqual({ ok: false, message: 'did must be a non-empty string' });
    expect(parseRepoBackfillEntry([])).toEqual({ ok: false, message: '`repo` is not an object' });
    expect(parseRepoFields({ repo: '{' })).toEqual({ ok: false, message: '`repo` is not JSON' });
    expect(parseRepoFields({ event: '{}' })).toEqual({ ok: false, message: 'entry has no `repo` field' });
  });
});
