// The lexicons of the record types the index has plugins for (bsky-lexicons.ts, vendored from @atproto/api by
// scripts/vendor-lexicons.ts), compiled once on first use.
import { BSKY_LEXICONS } from './bsky-lexicons.ts';
import { compileLexicons, type LexiconValidator } from './compile.ts';

let validator: LexiconValidator | undefined;

/** What makes a record invalid under its collection's lexicon; undefined when valid or no lexicon is vendored. */
export function bskyRecordProblem(collection: string, record: unknown): string | undefined {
  validator ??= compileLexicons(BSKY_LEXICONS);
  return validator.recordProblem(collection, record);
}
