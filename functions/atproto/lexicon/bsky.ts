// The lexicons of the record types the AppView indexes (bsky-lexicons.ts, vendored from @atproto/api by
// scripts/vendor-lexicons.ts), compiled once when the module loads (a few milliseconds, no I/O).
import { BSKY_LEXICONS } from './bsky-lexicons.ts';
import { compileLexicons } from './compile.ts';

const validator = compileLexicons(BSKY_LEXICONS);

/** What makes a record invalid under its collection's lexicon; undefined when valid or no lexicon is vendored. */
export function bskyRecordProblem(collection: string, record: unknown): string | undefined {
  return validator.recordProblem(collection, record);
}
