// Lexicon `language` format: a BCP-47 tag (RFC 5646 §2.1), checked the way the AppView's strict validator does
// (@atproto/syntax parseLanguageString): the grammar, plus no repeated variant or extension singleton (RFC 5646
// §4.1, compared case-insensitively), plus a primary language subtag of 2-3 lower-case letters (so `JA` and the
// grammatical but reserved 4-8 letter primaries like `jaja` are refused).
//
// The grammar is unambiguous subtag by subtag (each kind has a distinct shape at its position), so one greedy pass
// over the `-`-separated subtags decides it; no backtracking is needed.

/**
 * Grandfathered tags (RFC 5646 §2.2.8), accepted whole. Matched case-sensitively, as the reference regex does: a
 * differently cased `zh-Min-Nan` is still accepted, but as an ordinary tag (zh + extlangs), while `I-DEFAULT`
 * (primary `I`) is not.
 */
const GRANDFATHERED = new Set([
  'en-GB-oed', 'i-ami', 'i-bnn', 'i-default', 'i-enochian', 'i-hak', 'i-klingon', 'i-lux', 'i-mingo', 'i-navajo',
  'i-pwn', 'i-tao', 'i-tay', 'i-tsu', 'sgn-BE-FR', 'sgn-BE-NL', 'sgn-CH-DE',
  'art-lojban', 'cel-gaulish', 'no-bok', 'no-nyn', 'zh-guoyu', 'zh-hakka', 'zh-min', 'zh-min-nan', 'zh-xiang',
]);

// Subtag shapes, ASCII only.
const PRIMARY = /^[a-z]{2,3}$/; // strict: lower case, 2-3 letters
const EXTLANG = /^[A-Za-z]{3}$/;
const SCRIPT = /^[A-Za-z]{4}$/;
const REGION = /^(?:[A-Za-z]{2}|[0-9]{3})$/;
const VARIANT = /^(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3})$/;
const SINGLETON = /^[0-9A-WYZa-wyz]$/; // any single alphanumeric but x, which opens private use
const EXTENSION_PART = /^[A-Za-z0-9]{2,8}$/;
const PRIVATE_PART = /^[A-Za-z0-9]{1,8}$/;

export function isValidLanguage(value: string): boolean {
  if (GRANDFATHERED.has(value)) return true;
  const tags = value.split('-');
  const n = tags.length;
  // A tag that is private use only: x-<1-8 alnum>...
  if (tags[0] === 'x' || tags[0] === 'X') return isPrivateUse(tags, 1);
  if (!PRIMARY.test(tags[0]!)) return false;
  let i = 1;
  // Up to three extended language subtags follow a 2-3 letter primary.
  for (let k = 0; k < 3 && i < n && EXTLANG.test(tags[i]!); k++) i++;
  if (i < n && SCRIPT.test(tags[i]!)) i++;
  if (i < n && REGION.test(tags[i]!)) i++;
  const variants = new Set<string>();
  for (; i < n && VARIANT.test(tags[i]!); i++) {
    const key = tags[i]!.toLowerCase();
    if (variants.has(key)) return false;
    variants.add(key);
  }
  const singletons = new Set<string>();
  while (i < n && SINGLETON.test(tags[i]!)) {
    const key = tags[i]!.toLowerCase();
    if (singletons.has(key)) return false;
    singletons.add(key);
    i++;
    // An extension needs at least one 2-8 character subtag after its singleton.
    const start = i;
    while (i < n && EXTENSION_PART.test(tags[i]!)) i++;
    if (i === start) return false;
  }
  if (i === n) return true;
  // Otherwise the rest must be a private-use section; repeats inside it are not checked.
  return (tags[i] === 'x' || tags[i] === 'X') && isPrivateUse(tags, i + 1);
}

/** tags[from..] is one or more 1-8 character alphanumeric subtags. */
function isPrivateUse(tags: string[], from: number): boolean {
  if (from >= tags.length) return false;
  for (let i = from; i < tags.length; i++) if (!PRIVATE_PART.test(tags[i]!)) return false;
  return true;
}
