// The one list of plugins, keyed by collection. A collection without a plugin still gets its generic `record` row.
import { blockPlugin } from './block.ts';
import { followPlugin } from './follow.ts';
import { likePlugin } from './like.ts';
import { postPlugin } from './post.ts';
import { profilePlugin } from './profile.ts';
import { repostPlugin } from './repost.ts';
import type { AnyPlugin } from './types.ts';

export const PLUGINS: ReadonlyMap<string, AnyPlugin> = new Map<string, AnyPlugin>(
  [postPlugin, likePlugin, repostPlugin, followPlugin, blockPlugin, profilePlugin].map((p) => [p.collection, p]),
);

export { isRowPlugin } from './types.ts';
export type { AnyPlugin, Plugin, RowPlugin, IndexedRecord, RecordFamily } from './types.ts';
