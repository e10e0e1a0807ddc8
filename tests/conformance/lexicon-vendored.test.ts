// The vendored lexicons (functions/atproto/lexicon/bsky-lexicons.ts) are what scripts/vendor-lexicons.ts makes from
// the installed @atproto/api: after an upgrade or a new plugin, this fails until the script is run again.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderLexicons, VENDORED_LEXICONS } from '../../scripts/vendor-lexicons.ts';
import { PLUGINS, RECORD_ONLY_COLLECTIONS } from '../../functions/index/plugins/index.ts';
import { compileLexicons } from '../../functions/atproto/lexicon/compile.ts';
import { BSKY_LEXICONS } from '../../functions/atproto/lexicon/bsky-lexicons.ts';

describe('vendored lexicons', () => {
  it('are up to date with @atproto/api and the plugins', () => {
    expect(readFileSync(VENDORED_LEXICONS, 'utf8')).toBe(renderLexicons().text);
  });

  it('hold a record definition for every collection the index has a plugin for or keeps a record row for, and compile', () => {
    expect([...compileLexicons(BSKY_LEXICONS).collections].sort()).toEqual([...PLUGINS.keys(), ...RECORD_ONLY_COLLECTIONS].sort());
  });
});
