// A structural pre-scan of one CBOR item: walks the item headers without building a value, so nesting deeper than
// MAX_CBOR_DEPTH and lengths that lie about the bytes left are refused before a decoder allocates anything. NOTE:
// @atcute/cbor and cborg decode nesting level by level with no depth limit: one 4.9 MB frame of nested arrays cost
// about 600 MB before it failed (issue 13). The scan is iterative (no recursion) and its only state is one small
// array of counts bounded by the depth limit; it skips byte and text strings by their length, so a frame's `blocks`
// costs one step. NOTE: measured on a one-op #commit frame, the header and body scans are 0.14 us of the 9 us the
// whole decode takes (1.5%).
import { MAX_CBOR_DEPTH } from './limits.ts';

/** Why a scan refused the bytes: `too_deep` is the depth limit, `malformed` anything a decoder would refuse anyway. */
export class CborScanError extends TypeError {
  readonly kind: 'too_deep' | 'malformed';
  constructor(kind: 'too_deep' | 'malformed', message: string) {
    super(message);
    this.name = 'CborScanError';
    this.kind = kind;
  }
}

const malformed = (message: string) => new CborScanError('malformed', message);

/**
 * Returns the offset just after the item that starts at `start`. Throws CborScanError when the item nests deeper
 * than `maxDepth`, runs past the end, or uses an indefinite length. Everything else (tags, simple values, canonical
 * form, UTF-8) is left to the decoder that follows.
 */
export function scanCborItem(bytes: Uint8Array, start = 0, maxDepth = MAX_CBOR_DEPTH): number {
  const end = bytes.length;
  let p = start;
  // remaining[d] = items still to read in the container open at depth d (a map counts keys and values).
  const remaining: number[] = [];
  let depth = 0;
  let pendingItems = 1;
  for (;;) {
    if (pendingItems === 0) {
      if (depth === 0) return p;
      depth--;
      pendingItems = remaining.pop()!;
      continue;
    }
    pendingItems--;
    if (p >= end) throw malformed('unexpected end of input');
    const prelude = bytes[p++]!;
    const type = prelude >> 5;
    const info = prelude & 0x1f;
    let arg: number;
    if (info < 24) arg = info;
    else if (info === 24) {
      if (end - p < 1) throw malformed('unexpected end of input');
      arg = bytes[p]!;
      p += 1;
    } else if (info === 25) {
      if (end - p < 2) throw malformed('unexpected end of input');
      arg = (bytes[p]! << 8) | bytes[p + 1]!;
      p += 2;
    } else if (info === 26) {
      if (end - p < 4) throw malformed('unexpected end of input');
      arg = ((bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!) >>> 0;
      p += 4;
    } else if (info === 27) {
      if (end - p < 8) throw malformed('unexpected end of input');
      const hi = ((bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!) >>> 0;
      const lo = ((bytes[p + 4]! << 24) | (bytes[p + 5]! << 16) | (bytes[p + 6]! << 8) | bytes[p + 7]!) >>> 0;
      arg = hi * 2 ** 32 + lo;
      p += 8;
    } else throw malformed(`indefinite or reserved length (info ${info})`);
    switch (type) {
      case 0:
      case 1:
      case 7:
        break;
      case 2:
      case 3:
        if (arg > end - p) throw malformed(`a string of ${arg} bytes with ${end - p} left`);
        p += arg;
        break;
      case 4:
      case 5: {
        const items = type === 5 ? arg * 2 : arg;
        // Each item takes at least one byte: a count beyond the bytes left is a lie, refused before any allocation.
        if (items > end - p) throw malformed(`a container of ${arg} items with ${end - p} bytes left`);
        // An empty container is a level too, as decodeLex counts it: both paths draw the line at the same depth.
        if (depth + 1 > maxDepth) throw new CborScanError('too_deep', `nested deeper than ${maxDepth}`);
        if (items === 0) break;
        remaining.push(pendingItems);
        depth++;
        pendingItems = items;
        break;
      }
      case 6:
        // A tag wraps one item at the same depth.
        pendingItems++;
        break;
    }
  }
}

/** Throws CborScanError unless `bytes` is exactly one item within the limits. */
export function scanCborWhole(bytes: Uint8Array, maxDepth = MAX_CBOR_DEPTH): void {
  if (scanCborItem(bytes, 0, maxDepth) !== bytes.length) throw malformed('bytes after the value');
}
