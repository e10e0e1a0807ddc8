// The two lengths a lexicon string limit counts: UTF-8 bytes (`minLength`, `maxLength`) and extended grapheme
// clusters (`minGraphemes`, `maxGraphemes`), as the AppView counts them (Intl.Segmenter, which Node and Workers have).

/** UTF-8 bytes of a string; a lone surrogate counts as the 3 bytes of U+FFFD, as an encoder writes it. */
export function utf8Length(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

let segmenter: Intl.Segmenter | undefined;

export function graphemeLength(value: string): number {
  segmenter ??= new Intl.Segmenter();
  let n = 0;
  for (const _ of segmenter.segment(value)) n++;
  return n;
}
