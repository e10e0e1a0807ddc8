// The post NSID on its own: gates.ts and cross-repo.ts need it, and post.ts (which re-exports it) imports gates.ts, so
// taking it from post.ts would make an import cycle (cross-repo.ts reads it at load time, into CROSS_REPO).
export const POST_COLLECTION = 'app.bsky.feed.post';
