// nestsDeeperThan counts a lex-JSON record's nesting as lex-cbor.ts counts the DAG-CBOR block it encodes to, so a
// record refused on one path (a firehose block, too_deep) is refused on the other (a JSON stream entry, invalid).
import { describe, expect, it } from 'vitest';
import { lexToCbor, nestsDeeperThan } from '../../../functions/atproto/lex-json.ts';
import { decodeLex, MAX_NESTING } from '../../../functions/atproto/lex-cbor.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import type { JsonValue } from '../../../functions/events.ts';

const LINK = { $link: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' };

/** A record map holding `lists` nested lists, the innermost holding `leaf`. */
function record(lists: number, leaf: JsonValue | undefined): JsonValue {
  let inner: JsonValue = leaf === undefined ? [] : [leaf];
  for (let i = 1; i < lists; i++) inner = [inner];
  return { $type: 'app.bsky.feed.post', x: inner };
}

const cborRefuses = (value: JsonValue): boolean => {
  try {
    decodeLex(encodeCbor(lexToCbor(value)));
    return false;
  } catch {
    return true;
  }
};

describe('nestsDeeperThan', () => {
  it.each([
    ['127 lists', record(127, undefined)],
    ['128 lists', record(128, undefined)],
    ['127 lists around a link (a leaf)', record(127, LINK)],
    ['127 lists around bytes (a leaf)', record(127, { $bytes: 'AAEC' })],
    ['127 lists around a map', record(127, { a: 1 })],
    ['126 lists around a map', record(126, { a: 1 })],
  ])('agrees with decodeLex for %s', (_name, value) => {
    expect(nestsDeeperThan(value, MAX_NESTING)).toBe(cborRefuses(value));
  });

  it('walks 100,000 levels without overflowing the stack', () => {
    expect(nestsDeeperThan(record(100_000, undefined), MAX_NESTING)).toBe(true);
  });
});
