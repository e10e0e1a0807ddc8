// A record may carry a key named `__proto__` (found by the lex-cbor property test, seed -915586428): both directions
// of the lex-JSON conversion keep it as an own data key, as the one-pass decoder does, never as a prototype.
import { describe, expect, it } from 'vitest';
import { cborToLex, lexToCbor } from '../../../functions/atproto/lex-json.ts';

describe('lex-JSON conversion and __proto__', () => {
  it('keeps __proto__ as an own key both ways', () => {
    const cbor: Record<string, unknown> = {};
    Object.defineProperty(cbor, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
    const lex = cborToLex(cbor) as Record<string, unknown>;
    expect(Object.keys(lex)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(lex)).toBe(Object.prototype);
    const back = lexToCbor(JSON.parse('{"__proto__":{"a":1},"b":2}')) as Record<string, unknown>;
    expect(Object.keys(back).sort()).toEqual(['__proto__', 'b']);
    expect(({} as Record<string, unknown>)['a']).toBeUndefined();
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });
});
