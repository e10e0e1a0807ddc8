// The lexicon string formats, each the strict check the AppView applies (functions/atproto/syntax/).
import { isValidAtIdentifier } from '../syntax/at-identifier.ts';
import { isLexiconAtUri } from '../syntax/at-uri.ts';
import { isValidCidString } from '../syntax/cid-string.ts';
import { isLexiconDatetime } from '../syntax/datetime.ts';
import { isValidDid } from '../syntax/did.ts';
import { isValidHandle } from '../syntax/handle.ts';
import { isValidLanguage } from '../syntax/language.ts';
import { isValidNsid } from '../syntax/nsid.ts';
import { isValidRecordKey } from '../syntax/record-key.ts';
import { isValidTid } from '../syntax/tid.ts';
import { isValidUri } from '../syntax/uri.ts';

export const STRING_FORMATS: Readonly<Record<string, (value: string) => boolean>> = {
  'at-identifier': isValidAtIdentifier,
  'at-uri': isLexiconAtUri,
  cid: isValidCidString,
  datetime: isLexiconDatetime,
  did: isValidDid,
  handle: isValidHandle,
  language: isValidLanguage,
  nsid: isValidNsid,
  'record-key': isValidRecordKey,
  tid: isValidTid,
  uri: isValidUri,
};
