// The one list of plugins, keyed by collection. A collection without a plugin still gets its generic `record` row
// (the AppView's declarations and statuses write nothing else either).
import { blockPlugin } from './block.ts';
import { feedGeneratorPlugin } from './feed-generator.ts';
import { followPlugin } from './follow.ts';
import { labelerPlugin } from './labeler.ts';
import { likePlugin } from './like.ts';
import { listBlockPlugin } from './list-block.ts';
import { listItemPlugin } from './list-item.ts';
import { listPlugin } from './list.ts';
import { postGatePlugin } from './post-gate.ts';
import { postPlugin } from './post.ts';
import { profilePlugin } from './profile.ts';
import { referenceListOptOutPlugin } from './reference-list-opt-out.ts';
import { repostPlugin } from './repost.ts';
import { starterPackPlugin } from './starter-pack.ts';
import { threadGatePlugin } from './thread-gate.ts';
import { verificationPlugin } from './verification.ts';
import type { AnyPlugin } from './types.ts';

/**
 * In the order their rows are written within a batch: follows and list items before posts (a reply is judged by
 * them), gates' histories before posts (plugins with `versions` run first anyway).
 */
export const PLUGINS: ReadonlyMap<string, AnyPlugin> = new Map<string, AnyPlugin>(
  [
    followPlugin, listPlugin, listItemPlugin, blockPlugin, listBlockPlugin, threadGatePlugin, postGatePlugin, postPlugin,
    likePlugin, repostPlugin, profilePlugin, feedGeneratorPlugin, starterPackPlugin, labelerPlugin, verificationPlugin,
    referenceListOptOutPlugin,
  ].map((p) => [p.collection, p]),
);

/**
 * Collections the AppView has a plugin for that writes only the `record` row (declarations and statuses): they need
 * no plugin here, but their records are checked against their lexicons like the rest (functions/atproto/lexicon/).
 */
export const RECORD_ONLY_COLLECTIONS: readonly string[] = [
  'app.bsky.actor.status', 'app.bsky.notification.declaration', 'chat.bsky.actor.declaration', 'com.germnetwork.declaration',
];

export { isRowPlugin } from './types.ts';
export type { AnyPlugin, Plugin, RowPlugin, IndexedRecord, RecordFamily } from './types.ts';
