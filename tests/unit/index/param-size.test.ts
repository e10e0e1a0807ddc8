// A statement's parameters past what Postgres takes in one message (1 GB): it closes the connection, which reads as
// an outage, and the same batch was waited out and sent again for ever. The row sets are measured as they are joined,
// and a batch over the bound throws a plain failure (RowSetTooLargeError), which the consumer bisects. The bound itself
// is measured here with a small limit; a 1 GB batch end to end was run by hand (the stop's note).
import { describe, expect, it } from 'vitest';
import { checkParamSize, MAX_STATEMENT_PARAM_CHARS, RowSetTooLargeError } from '../../../functions/index/rows.ts';

describe('the size of a statement\'s parameters', () => {
  it('counts every string parameter together, and throws past the bound', () => {
    expect(() => checkParamSize(['x'.repeat(60), 'y'.repeat(40), 7], 100)).not.toThrow();
    expect(() => checkParamSize(['x'.repeat(60), 'y'.repeat(41)], 100)).toThrow(RowSetTooLargeError);
  });

  it('leaves room under the 1 GB Postgres takes in a message, at 3 bytes of UTF-8 a character', () => {
    expect(MAX_STATEMENT_PARAM_CHARS * 3).toBeLessThan(1024 ** 3);
  });
});
