// Lexicon `uri` format, as loose as the AppView's check (@atproto/syntax isValidUri): a scheme of word characters
// ([A-Za-z0-9_], so `content-type:` and `a.b:` are refused), a colon, optionally `//`, then at least one character and
// no whitespace (JavaScript's `\s`, which includes NBSP, U+2028/2029, U+FEFF and the other Unicode spaces). The
// first character after the colon (or after `//`) must not be `/`, so `http:/x`, `http:///x` and `http://` fail.
// There is no length limit (the interop suite's 8 KiB cap is not enforced by the AppView, so neither is it here).
const URI_RE = /^[A-Za-z0-9_]+:(?:\/\/)?[^\s/]\S*$/;

export function isValidUri(value: string): boolean {
  return URI_RE.test(value);
}
