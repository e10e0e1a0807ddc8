// The label contract (functions/label/label.ts, instant.ts, version.ts, entry.ts): what a label must look like
// (label spec), the bytes that were signed, the order that decides which label is current, and the label_live
// entry forms of skytide, rsky and the TypeScript pipeline.
import { describe, expect, it } from 'vitest';
import { encode as referenceEncode } from '@atproto/lex-cbor';
import { normalizeRskyLabel, parseLabel, signingBytes } from '../../../functions/label/label.ts';
import { instantKey, instantKeyOfMs } from '../../../functions/label/instant.ts';
import { compareVersions, toRow } from '../../../functions/label/version.ts';
import { parseLabelFields, parseLabelItem } from '../../../functions/label/entry.ts';
import { isLabelerHost } from '../../../functions/label/verify-label.ts';
import { decodeCursor, encodeCursor } from '../../../functions/label/query.ts';

const BASE = { ver: 1, src: 'did:plc:labeler', uri: 'at://did:plc:x/app.bsky.feed.post/3k', val: 'spam', cts: '2024-05-01T12:00:00.000Z' };
const CID = 'bafyreihpbwrqsipbigarmwyqokkse4dtfpg3jkygvmizjp6anyopplx4om';

function parsed(value: unknown) {
  const r = parseLabel(value);
  if (!r.ok) throw new Error(r.message);
  return r.label;
}

describe('parseLabel: the label spec', () => {
  it('accepts a full label and reads sig from {"$bytes"}', () => {
    const label = parsed({ ...BASE, cid: CID, neg: true, exp: '2024-06-01T00:00:00Z', sig: { $bytes: 'AAEC' } });
    expect(label).toEqual({ ...BASE, cid: CID, neg: true, exp: '2024-06-01T00:00:00Z', sig: new Uint8Array([0, 1, 2]) });
  });

  it('accepts an account (a bare DID) as the subject', () => {
    expect(parsed({ ...BASE, uri: 'did:plc:x' }).uri).toBe('did:plc:x');
  });

  it.each([
    [{ ...BASE, src: 'labeler' }, 'src is not a DID'],
    [{ ...BASE, uri: 'not a uri' }, 'uri is not a URI'],
    // A label's key is a B-tree key in Postgres (at most 2,704 bytes a row): a longer one failed its whole batch.
    [{ ...BASE, uri: `at://did:plc:x/app.bsky.feed.post/${'a'.repeat(2048)}` }, 'uri is longer than 2048 bytes'],
    [{ ...BASE, src: `did:web:${'a'.repeat(300)}.example` }, 'src is longer than 300 bytes'],
    [{ ...BASE, cid: '' }, 'cid is not a CID'],
    [{ ...BASE, cid: 'bafynotacid' }, 'cid is not a CID'],
    [{ ...BASE, val: 'x'.repeat(129) }, 'val must be 1 to 128 bytes'],
    [{ ...BASE, val: 'é'.repeat(65) }, 'val must be 1 to 128 bytes'],
    [{ ...BASE, val: '' }, 'val must be 1 to 128 bytes'],
    [{ ...BASE, cts: '2024-05-01 12:00:00' }, 'cts is not a datetime'],
    [{ ...BASE, exp: 'tomorrow' }, 'exp is not a datetime'],
    [{ ...BASE, neg: 'yes' }, 'neg is not a boolean'],
    [{ ...BASE, ver: 2 }, 'ver is not 1'],
    [{ ...BASE, sig: 'AAEC' }, 'sig is not {"$bytes"}'],
    [{ ...BASE, sig: { $bytes: '!!!' } }, 'sig is not base64'],
    [{ ...BASE, val: 'a\u0000b' }, 'val is not a clean string'],
    [{ ...BASE, val: 'a\ud800' }, 'val is not a clean string'],
    [{ src: BASE.src, uri: BASE.uri, val: 'x' }, 'cts is missing'],
  ])('rejects %j: %s', (value, message) => {
    const r = parseLabel(value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(message);
  });
});

describe('parseLabel: a cid longer than any CID', () => {
  it('is refused before it is decoded (base58, as CIDv0 and z-multibase strings are, decodes in time quadratic in the length)', () => {
    // A frame may be 5 MB: a 4 MB cid would hold the label consumer's event loop for hours; 150,000 characters, about a minute.
    for (const cid of [`Q${'m'.repeat(150_000)}`]) {
      const r = parseLabel({ ...BASE, cid });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toContain('cid is not a CID');
    }
  });
});

describe('signingBytes: what the issuer signed', () => {
  it('is the reference DAG-CBOR of the spec fields as received, without sig, $type or unknown fields', () => {
    const label = parsed({ ...BASE, cid: CID, neg: false, exp: '2024-06-01T00:00:00Z', sig: { $bytes: 'AAEC' }, $type: 'com.atproto.label.defs#label', extra: 1 });
    const expected = referenceEncode({ ver: 1, src: BASE.src, uri: BASE.uri, cid: CID, val: 'spam', neg: false, cts: BASE.cts, exp: '2024-06-01T00:00:00Z' });
    expect(Buffer.from(signingBytes(label)).equals(Buffer.from(expected))).toBe(true);
  });

  it('leaves out ver when the label had none (the bytes are what was sent, not what should have been)', () => {
    const { ver: _ver, ...rest } = BASE;
    expect(Buffer.from(signingBytes(parsed(rest))).equals(Buffer.from(referenceEncode(rest)))).toBe(true);
  });
});

describe('instantKey: datetimes as sortable keys', () => {
  it('orders spellings of instants by time, not by text', () => {
    const times = [
      '2024-05-01T12:00:00.000Z',
      '2024-05-01T13:00:00.000001+01:00', // one microsecond later than the first
      '2024-05-01T12:00:00.5Z',
      '2024-05-01T11:00:01-01:00',
      '0001-01-01T00:00:00Z',
      '0099-12-31T23:59:59.999999999Z',
      '9999-12-31T23:59:59.999Z',
    ];
    const sorted = [...times].sort((a, b) => (instantKey(a)! < instantKey(b)! ? -1 : 1));
    expect(sorted).toEqual([
      '0001-01-01T00:00:00Z',
      '0099-12-31T23:59:59.999999999Z',
      '2024-05-01T12:00:00.000Z',
      '2024-05-01T13:00:00.000001+01:00',
      '2024-05-01T12:00:00.5Z',
      '2024-05-01T11:00:01-01:00',
      '9999-12-31T23:59:59.999Z',
    ]);
    expect(instantKey('2024-05-01T13:00:00+01:00')).toBe(instantKey('2024-05-01T12:00:00.000Z'));
  });

  it('agrees with Date for milliseconds, and the clock key compares with datetime keys', () => {
    for (const iso of ['1970-01-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z', '2000-01-01T00:00:00.001Z']) {
      expect(instantKeyOfMs(Date.parse(iso))).toBe(instantKey(iso));
    }
    expect(instantKey('nope')).toBeUndefined();
  });
});

describe('compareVersions: which label is current', () => {
  const row = (over: Record<string, unknown>) => toRow(parsed({ ...BASE, ...over }));
  it('the newest cts wins, whatever its spelling', () => {
    expect(compareVersions(row({ cts: '2024-05-01T13:00:00.001+01:00' }), row({ cts: '2024-05-01T12:00:00Z' }))).toBeGreaterThan(0);
  });
  it('a negation wins a tie', () => {
    expect(compareVersions(row({ neg: true }), row({}))).toBeGreaterThan(0);
    expect(compareVersions(row({}), row({ neg: true }))).toBeLessThan(0);
  });
  it('is total: two different labels never compare equal, the same one always does', () => {
    expect(compareVersions(row({ exp: '2025-01-01T00:00:00Z' }), row({}))).not.toBe(0);
    expect(compareVersions(row({ sig: { $bytes: 'AQ' } }), row({ sig: { $bytes: 'Ag' } }))).not.toBe(0);
    expect(compareVersions(row({ cts: '2024-05-01T13:00:00+01:00' }), row({}))).not.toBe(0);
    expect(compareVersions(row({ cid: CID }), row({ cid: CID }))).toBe(0);
  });
});

describe('label_live entries', () => {
  it("reads skytide's event with its host, and the TS pipeline's without one", () => {
    expect(parseLabelFields({ event: JSON.stringify({ type: 'label', host: 'mod.example', label: BASE }) })).toEqual({ ok: true, value: { form: 'event', host: 'mod.example', labels: [BASE] } });
    expect(parseLabelFields({ event: JSON.stringify({ type: 'label', label: BASE }) })).toEqual({ ok: true, value: { form: 'event', labels: [BASE] } });
  });

  it("reads rsky's labels field, and normalises its chrono cts and null fields", () => {
    const rsky = { seq: 4, labels: [{ src: BASE.src, uri: BASE.uri, cid: null, val: 'spam', neg: null, cts: '2024-05-01 12:00:00.123 UTC' }] };
    const r = parseLabelFields({ labels: JSON.stringify(rsky) });
    expect(r).toEqual({ ok: true, value: { form: 'rsky', labels: rsky.labels } });
    expect(normalizeRskyLabel(rsky.labels[0])).toEqual({ src: BASE.src, uri: BASE.uri, val: 'spam', cts: '2024-05-01T12:00:00.123Z' });
  });

  it('says what is wrong with an entry that offers no labels', () => {
    expect(parseLabelFields({})).toMatchObject({ ok: false, message: 'entry has neither an `event` nor a `labels` field' });
    expect(parseLabelFields({ event: '{' })).toMatchObject({ ok: false, message: '`event` is not JSON' });
    expect(parseLabelFields({ event: JSON.stringify({ type: 'create' }) })).toMatchObject({ ok: false });
    expect(parseLabelFields({ labels: JSON.stringify({ seq: 1 }) })).toMatchObject({ ok: false });
    expect(parseLabelItem({ type: 'label', host: '', label: BASE })).toMatchObject({ ok: false });
    expect(parseLabelItem({ type: 'label', host: 'h' })).toMatchObject({ ok: false });
  });
});

describe("isLabelerHost: src's #atproto_labeler endpoint against the host a label was read from", () => {
  it.each([
    ['https://mod.bsky.app', 'mod.bsky.app', true],
    ['https://mod.bsky.app/', 'https://mod.bsky.app/', true],
    ['https://mod.bsky.app', 'mod.bsky.app:443', true],
    ['http://localhost:2587', 'localhost:2587', true],
    ['http://127.0.0.1:80', '127.0.0.1:80', true],
    ['https://MOD.bsky.app', 'mod.bsky.app', true],
    ['https://mod.bsky.app', 'evil.example', false],
    ['https://mod.bsky.app', 'mod.bsky.app:8443', false],
    ['https://mod.bsky.app.evil.example', 'mod.bsky.app', false],
    ['ftp://mod.bsky.app', 'mod.bsky.app', false],
    ['not a url', 'mod.bsky.app', false],
  ])('%s names %s: %s', (endpoint, host, expected) => {
    expect(isLabelerHost(endpoint, host)).toBe(expected);
  });
});

describe('queryLabels cursors', () => {
  it('round-trip any (uri, src, val), and anything else is not a cursor', () => {
    const key: [string, string, string] = ['at://did:plc:x/app.bsky.feed.post/ü', 'did:plc:y', '!takedown'];
    expect(decodeCursor(encodeCursor(key))).toEqual(key);
    expect(encodeCursor(key)).toMatch(/^[A-Za-z0-9_-]+$/);
    for (const bad of ['', '12', 'bm9wZQ', encodeCursor(['a', 'b'] as unknown as [string, string, string])]) expect(decodeCursor(bad)).toBeUndefined();
  });
});
