// subscribeLabels frames -> label_live entries (functions/atproto/label-frame.ts), on real frames a running Ozone
// signed (tests/fixtures/ozone) and on labels signed with @atproto/crypto. The rule: bytes in, one outcome out, never
// an exception; each label's fields exactly as received, so re-encoding gives back the signed bytes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decode as referenceDecode } from '@atproto/lex-cbor';
import { verifySignature as referenceVerify } from '@atproto/crypto';
import { decodeLabelFrame } from '../../../functions/atproto/label-frame.ts';
import { parseDidDocument } from '../../../functions/atproto/identity/did-document.ts';
import { formatDidKey } from '../../../functions/atproto/crypto/keys.ts';
import { verifySignature } from '../../../functions/atproto/crypto/verify.ts';
import { parseLabel, signingBytes } from '../../../functions/label/label.ts';
import { MAX_FRAME_BYTES } from '../../../functions/atproto/limits.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { encodeFrame } from '../../helpers/frames.ts';
import { errorFrame, labelKeypair, labelsFrame, messageFrame, signLabel } from '../../helpers/labels.ts';

interface OzoneFixture {
  ozoneDid: string;
  didDocument: unknown;
  subjects: { post: { uri: string; cid: string }; account: string };
  frames: string[];
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/ozone/subscribe-labels.json', import.meta.url), 'utf8')) as OzoneFixture;
const frames = fixture.frames.map((hex) => new Uint8Array(Buffer.from(hex, 'hex')));
const ozone = parseDidDocument(fixture.ozoneDid, fixture.didDocument);
const HOST = 'localhost:2587';

function labelsOf(bytes: Uint8Array) {
  const outcome = decodeLabelFrame(bytes, HOST);
  if (outcome.kind !== 'labels') throw new Error(`expected #labels, got ${outcome.kind}`);
  return outcome;
}

describe('real Ozone frames', () => {
  it('become one entry per label, with the body seq, the host, and the label as received', () => {
    const decoded = frames.map(labelsOf);
    expect(decoded.map((d) => d.seq)).toEqual([2, 3, 4, 5]);
    expect(decoded.every((d) => d.entries.length === 1 && d.dropped.length === 0)).toBe(true);
    const [rude, negation, warn, rumor] = decoded.map((d) => d.entries[0]!);
    expect(rude).toMatchObject({ type: 'label', host: HOST, label: { ver: 1, src: fixture.ozoneDid, uri: fixture.subjects.account, val: 'rude' } });
    expect(rude!.label['cid']).toBeUndefined();
    expect(negation!.label).toMatchObject({ uri: fixture.subjects.post.uri, cid: fixture.subjects.post.cid, val: 'spam', neg: true });
    expect(typeof warn!.label['exp']).toBe('string');
    expect(rumor!.label).toMatchObject({ val: 'rumor', cid: fixture.subjects.post.cid });
    for (const { entries } of decoded) expect(Object.keys(entries[0]!.label['sig'] as object)).toEqual(['$bytes']);
  });

  it('re-encoding an entry gives back the bytes Ozone signed: they verify against its #atproto_label key', async () => {
    expect(ozone.labelKey).toBeDefined();
    // The #atproto key is another key: a label must never verify against it.
    expect(formatDidKey(ozone.labelKey!)).not.toBe(formatDidKey(ozone.signingKey));
    for (const bytes of frames) {
      const entry = labelsOf(bytes).entries[0]!;
      const parsed = parseLabel(entry.label);
      if (!parsed.ok) throw new Error(parsed.message);
      const message = signingBytes(parsed.label);
      expect(verifySignature(ozone.labelKey!, message, parsed.label.sig!)).toBe(true);
      expect(verifySignature(ozone.signingKey, message, parsed.label.sig!)).toBe(false);
      // The reference verifier agrees, and the label map re-encodes to exactly the bytes inside the frame.
      expect(await referenceVerify(formatDidKey(ozone.labelKey!), message, parsed.label.sig!)).toBe(true);
      const body = referenceDecode(bytes.subarray(encodeCbor({ op: 1, t: '#labels' }).length)) as { labels: Record<string, unknown>[] };
      const { sig, ...unsigned } = body.labels[0]!;
      expect(Buffer.from(message).equals(Buffer.from(encodeCbor(unsigned)))).toBe(true);
      expect(sig).toEqual(parsed.label.sig);
    }
  });
});

describe('labels signed with @atproto/crypto', () => {
  it('keep every field as sent, unknown ones and neg:false included, and still verify on both curves', async () => {
    for (const curve of ['k256', 'p256'] as const) {
      const key = await labelKeypair(curve);
      const signed = await signLabel(key, { ver: 1, src: 'did:plc:src', uri: 'at://did:plc:x/app.bsky.feed.post/1', val: 'spam', neg: false, cts: '2024-05-01T12:00:00.123456+02:00' });
      const entry = labelsOf(labelsFrame(7, [{ ...signed, ...({ extra: 'kept' } as object) } as typeof signed])).entries[0]!;
      expect(entry.label['extra']).toBe('kept');
      expect(entry.label['neg']).toBe(false);
      expect(entry.label['cts']).toBe('2024-05-01T12:00:00.123456+02:00');
      const parsed = parseLabel(entry.label);
      if (!parsed.ok) throw new Error(parsed.message);
      expect(await referenceVerify(key.did(), signingBytes(parsed.label), parsed.label.sig!)).toBe(true);
    }
  });

  it('drops (and counts) only labels that cannot be written as lex-JSON; the frame keeps its seq', async () => {
    const key = await labelKeypair();
    const good = await signLabel(key, { ver: 1, src: 'did:plc:src', uri: 'did:plc:x', val: 'ok', cts: '2024-05-01T12:00:00Z' });
    // A float is outside the data model: the reference encoder refuses it, so this frame is built with cborg.
    const outcome = labelsOf(encodeFrame({ op: 1, t: '#labels' }, { seq: 9, labels: [good, 'not a map', { val: 1.5 }, [1, 2]] }));
    expect(outcome.seq).toBe(9);
    expect(outcome.entries).toHaveLength(1);
    expect(outcome.dropped).toEqual([{ reason: 'invalid_label', count: 3 }]);
  });

  it('passes a label with bad fields on as received: the label function gives the verdict', () => {
    const outcome = labelsOf(messageFrame('#labels', { seq: 1, labels: [{ src: 'not a did', uri: 5 }] }));
    expect(outcome.entries[0]!.label).toEqual({ src: 'not a did', uri: 5 });
  });
});

describe('every other frame is one counted outcome, never an exception', () => {
  it('#info, error frames, unknown types and ops', () => {
    expect(decodeLabelFrame(messageFrame('#info', { name: 'OutdatedCursor', message: 'too old' }), HOST)).toEqual({ kind: 'info', name: 'OutdatedCursor', message: 'too old' });
    expect(decodeLabelFrame(errorFrame('FutureCursor', 'Cursor in the future.'), HOST)).toEqual({ kind: 'error', error: 'FutureCursor', message: 'Cursor in the future.' });
    // Event-stream spec: an unknown `t` or `op` is ignored; its seq is kept so the cursor may pass it.
    expect(decodeLabelFrame(messageFrame('#future', { seq: 12 }), HOST)).toEqual({ kind: 'ignored', reason: 'unknown_frame_type', t: '#future', seq: 12 });
    const op2 = new Uint8Array([...encodeCbor({ op: 2 }), ...encodeCbor({})]);
    expect(decodeLabelFrame(op2, HOST)).toEqual({ kind: 'ignored', reason: 'unknown_op' });
  });

  it('malformed frames are invalid, with the seq when one could be read', () => {
    expect(decodeLabelFrame(new Uint8Array([0xff, 0x00, 0x13]), HOST)).toMatchObject({ kind: 'invalid', reason: 'invalid_frame' });
    expect(decodeLabelFrame(encodeCbor({ op: 1, t: '#labels' }), HOST)).toMatchObject({ kind: 'invalid', reason: 'invalid_frame' });
    expect(decodeLabelFrame(messageFrame('#labels', { labels: [] }), HOST)).toMatchObject({ kind: 'invalid', reason: 'invalid_frame' });
    expect(decodeLabelFrame(messageFrame('#labels', { seq: -3, labels: [] }), HOST)).toMatchObject({ kind: 'invalid', reason: 'invalid_frame' });
    expect(decodeLabelFrame(messageFrame('#labels', { seq: 4, labels: 'x' }), HOST)).toEqual({ kind: 'invalid', reason: 'invalid_frame', message: '#labels without a labels array', seq: 4 });
    expect(decodeLabelFrame(messageFrame('#info', {}), HOST)).toMatchObject({ kind: 'invalid', reason: 'invalid_frame' });
    expect(decodeLabelFrame(new Uint8Array(MAX_FRAME_BYTES + 1), HOST)).toMatchObject({ kind: 'invalid', reason: 'too_big' });
  });

  it('a #labels frame with no labels still carries its seq', () => {
    expect(decodeLabelFrame(labelsFrame(30, []), HOST)).toEqual({ kind: 'labels', seq: 30, entries: [], dropped: [] });
  });
});
