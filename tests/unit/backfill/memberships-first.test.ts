// The order a backfill indexes a repo's leaves in: its follows and list items first (a thread gate's rules read them
// when its replies are judged), then the rest in key order, each leaf once.
import { describe, expect, it } from 'vitest';
import { membershipsFirst } from '../../../functions/backfill-repo/handler.ts';

const order = (keys: string[]) => membershipsFirst(keys).flatMap(([a, b]) => keys.slice(a, b));

describe('backfill: membershipsFirst', () => {
  it('puts follows and list items first and keeps every other leaf once, in key order', () => {
    const keys = [
      'app.bsky.actor.profile/self', 'app.bsky.feed.like/3a', 'app.bsky.feed.post/3b', 'app.bsky.graph.block/3c',
      'app.bsky.graph.follow/3d', 'app.bsky.graph.follow/3e', 'app.bsky.graph.followx/3f', 'app.bsky.graph.list/3g',
      'app.bsky.graph.listitem/3h', 'app.bsky.graph.listitemz/3i', 'com.example.thing/3j',
    ];
    expect(order(keys)).toEqual([
      'app.bsky.graph.follow/3d', 'app.bsky.graph.follow/3e', 'app.bsky.graph.listitem/3h',
      'app.bsky.actor.profile/self', 'app.bsky.feed.like/3a', 'app.bsky.feed.post/3b', 'app.bsky.graph.block/3c',
      'app.bsky.graph.followx/3f', 'app.bsky.graph.list/3g', 'app.bsky.graph.listitemz/3i', 'com.example.thing/3j',
    ]);
  });

  it('covers a repo without them, an empty one, and keys with other characters in key order', () => {
    expect(order(['a/1', 'b/2'])).toEqual(['a/1', 'b/2']);
    expect(membershipsFirst([])).toEqual([]);
    const odd = ['app.bsky.feed.post/é', 'app.bsky.graph.follow/1'];
    expect(order(odd)).toEqual(odd);
    expect(order(['app.bsky.graph.follow/1', 'app.bsky.graph.listitem/2'])).toEqual(['app.bsky.graph.follow/1', 'app.bsky.graph.listitem/2']);
  });
});
