// app.bsky.feed.threadgate -> thread_gate, post.hasThreadGate, and the violatesThreadGate verdicts of the replies
// under its post (../gates.ts), with their reply counts.
import { gatePlugin } from './gate-table.ts';

export const threadGatePlugin = gatePlugin({
  collection: 'app.bsky.feed.threadgate', family: 'threadgate', table: 'thread_gate', kind: 'thread', flag: 'hasThreadGate',
});
