// Named limits on what upstream may send, checked before the work they bound (sync spec; lexicon constraints).
export const MAX_FRAME_BYTES = 5 * 1024 * 1024;
export const MAX_COMMIT_BLOCKS_BYTES = 2 * 1024 * 1024;
export const MAX_SYNC_BLOCKS_BYTES = 10_000;
export const MAX_RECORD_BYTES = 1024 * 1024;
export const MAX_COMMIT_OPS = 200;
