// Named limits on what upstream may send, checked before the work they bound (sync spec; lexicon constraints). Each
// refusal is counted with its own reason (functions/reasons.ts). The frame limit is also a variable
// (INGESTER_MAX_FRAME_BYTES); these are the defaults and the protocol's own bounds.
export const MAX_FRAME_BYTES = 5 * 1024 * 1024;
/** A #commit's `blocks`: com.atproto.sync.subscribeRepos#commit says maxLength 2,000,000 (bytes, not 2 MiB). */
export const MAX_COMMIT_BLOCKS_BYTES = 2_000_000;
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024;
export const MAX_SYNC_BLOCKS_BYTES = 10_000;
export const MAX_RECORD_BYTES = 1024 * 1024;
/**
 * The record bytes a commit's ops may name in all, a block named by several ops counted for each: its blocks are at
 * most MAX_COMMIT_BLOCKS_BYTES, but a block is stored once, and 200 ops naming one record of 1 MB made 200 events of
 * 1 MB each from a 2 MB frame. Twice the blocks' limit leaves any honest commit whole.
 */
export const MAX_COMMIT_RECORD_BYTES = 2 * MAX_COMMIT_BLOCKS_BYTES;
export const MAX_COMMIT_OPS = 200;
/**
 * Containers nested in one DAG-CBOR item. A frame body nests 3 deep and the deepest app.bsky record (a post quoting
 * a record with media, facets, aspect ratios) under 10; 128 leaves room for any lexicon and stops hostile nesting
 * before a decoder allocates (functions/atproto/cbor-scan.ts).
 */
export const MAX_CBOR_DEPTH = 128;
/** Lexicon and syntax bounds: handle 253 chars, DID 2048 chars, label `val` 128 bytes (a label's uri: label/label.ts). */
export const MAX_HANDLE_LENGTH = 253;
export const MAX_DID_LENGTH = 2048;
export const MAX_LABEL_VAL_BYTES = 128;
/** A DID document is a few KB; a did:web host or a directory answering more is refused before parsing. */
export const MAX_DID_DOCUMENT_BYTES = 64 * 1024;
