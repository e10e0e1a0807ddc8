// Every reason of the closed set (functions/reasons.ts) is what an operator meets as a counter's `reason` label, a
// DLQ letter's `reason` and a log field: each must be explained in README.md, so a reason added without a word there
// fails here.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REASONS } from '../../../functions/reasons.ts';

const README = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../../README.md'), 'utf8');

describe('README reasons', () => {
  it('names every reason of functions/reasons.ts', () => {
    expect(REASONS.filter((reason) => !README.includes(`\`${reason}\``))).toEqual([]);
  });
});
