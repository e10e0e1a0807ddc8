// The post NSID is a string in one module of the index (plugins/post-collection.ts, re-exported by plugins/post.ts):
// gates.ts and cross-repo.ts each kept a copy of their own before (the lexicon table and comments do not count).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { POST_COLLECTION } from '../../../functions/index/plugins/post.ts';

const INDEX = path.join(import.meta.dirname, '../../../functions/index');

describe('the post collection NSID', () => {
  it('is spelled out in one module of functions/index, which the others import', () => {
    const files = (readdirSync(INDEX, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    const spelled = files.filter((f) => readFileSync(path.join(INDEX, f), 'utf8').includes("'app.bsky.feed.post'"));
    expect(spelled).toEqual([path.join('plugins', 'post-collection.ts')]);
    expect(POST_COLLECTION).toBe('app.bsky.feed.post');
  });
});
