// app.bsky.feed.postgate -> post_gate, post.hasPostGate, and the violatesEmbeddingRules verdicts of the quotes of its
// post (../gates.ts). Detached quotes (detachedEmbeddingUris) are read from the gate's record when viewing, as the
// AppView does: no row changes for them.
import { gatePlugin } from './gate-table.ts';

export const postGatePlugin = gatePlugin({
  collection: 'app.bsky.feed.postgate', family: 'postgate', table: 'post_gate', kind: 'post', flag: 'hasPostGate',
});
