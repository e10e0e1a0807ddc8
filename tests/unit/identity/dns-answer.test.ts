// functions/atproto/identity/dns-answer.ts: a DoH JSON answer read into node:dns's codes, and which codes are verdicts.
import { describe, expect, it } from 'vitest';
import { isDnsVerdict, readDohAnswer, txtChunks } from '../../../functions/atproto/identity/dns-answer.ts';

const q = { Question: [{ name: '_atproto.a.example', type: 16 }] };

describe('readDohAnswer', () => {
  it('NOERROR with records of the type asked: their data, the CNAME chain left out', () => {
    const body = { ...q, Status: 0, Answer: [{ type: 5, data: 'other.example.' }, { type: 16, data: '"did=did:plc:x"' }] };
    expect(readDohAnswer(200, body, 'TXT')).toEqual({ kind: 'records', data: ['"did=did:plc:x"'] });
  });

  it('RCODEs become the codes c-ares gives: NXDOMAIN and no record are the only verdicts', () => {
    const codes = [0, 1, 2, 3, 4, 5, 9].map((Status) => readDohAnswer(200, { ...q, Status }, 'TXT'));
    expect(codes.map((a) => (a.kind === 'failed' ? a.code : a.kind))).toEqual(['ENODATA', 'EFORMERR', 'ESERVFAIL', 'ENOTFOUND', 'ENOTIMP', 'EREFUSED', 'EBADRESP']);
    expect(codes.map((a) => a.kind === 'failed' && isDnsVerdict(a.code))).toEqual([true, false, false, true, false, false, false]);
  });

  it('a non-2xx reply, a body that is not JSON or has no numeric Status is EBADRESP (an outage)', () => {
    for (const [status, body] of [[503, { Status: 0 }], [404, undefined], [200, undefined], [200, {}], [200, { Status: '0' }], [200, { Status: 0, Answer: 'x' }]] as const) {
      expect(readDohAnswer(status, body, 'TXT')).toEqual({ kind: 'failed', code: 'EBADRESP' });
    }
    expect(isDnsVerdict('EBADRESP')).toBe(false);
    expect(isDnsVerdict(undefined)).toBe(false);
  });
});

describe('txtChunks', () => {
  it('reads quoted character-strings with their escapes, as resolveTxt returns them', () => {
    expect(txtChunks('"did=did:plc:abc"')).toEqual(['did=did:plc:abc']);
    expect(txtChunks('"did=did:plc:" "abc"')).toEqual(['did=did:plc:', 'abc']);
    expect(txtChunks('"a\\"b\\\\c"')).toEqual(['a"b\\c']);
    expect(txtChunks('"caf\\195\\169"')).toEqual(['café']);
    expect(txtChunks('did=did:plc:bare')).toEqual(['did=did:plc:bare']);
  });
});
