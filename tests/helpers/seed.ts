// A realistic mix of writes through a real PDS: profiles and edits, posts, replies, image / external / quote /
// recordWithMedia embeds, likes, reposts, follows, blocks, a multi-op applyWrites commit, a record of a collection
// no plugin knows, and deletes of each kind. Returns what later steps need.
import type { DevUser } from './dev-network.ts';

// A 1x1 transparent PNG.
const PNG = Uint8Array.from(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'));
const now = () => new Date().toISOString();

export async function seedContent(users: DevUser[]): Promise<{ posts: { uri: string; cid: string }[] }> {
  const [alice, bob, carol] = users as [DevUser, DevUser, DevUser];
  for (const u of users) await u.agent.upsertProfile(() => ({ displayName: u.name, description: `I am ${u.name}` }));

  const root = await alice.agent.post({ text: 'root post', createdAt: now() });
  const reply = await bob.agent.post({ text: 'a reply', createdAt: now(), reply: { root, parent: root } });
  const nested = await carol.agent.post({ text: 'nested reply', createdAt: now(), reply: { root, parent: reply } });
  const blob = (await alice.agent.uploadBlob(PNG, { encoding: 'image/png' })).data.blob;
  const withImage = await alice.agent.post({ text: 'look', createdAt: now(), embed: { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: 'a pixel' }] } });
  const external = await bob.agent.post({
    text: 'a link', createdAt: now(),
    embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com/', title: 'Example', description: 'An example' } },
  });
  const quote = await carol.agent.post({ text: 'quoting', createdAt: now(), embed: { $type: 'app.bsky.embed.record', record: root } });
  const blob2 = (await bob.agent.uploadBlob(PNG, { encoding: 'image/png' })).data.blob;
  const quoteWithMedia = await bob.agent.post({
    text: 'quote with media', createdAt: now(),
    embed: {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: withImage },
      media: { $type: 'app.bsky.embed.images', images: [{ image: blob2, alt: '' }] },
    },
  });
  const doomed = await carol.agent.post({ text: 'to be deleted', createdAt: now() });

  const likes = [
    await bob.agent.like(root.uri, root.cid),
    await carol.agent.like(root.uri, root.cid),
    await alice.agent.like(reply.uri, reply.cid),
    await alice.agent.like(doomed.uri, doomed.cid),
  ];
  const reposts = [await bob.agent.repost(root.uri, root.cid), await carol.agent.repost(withImage.uri, withImage.cid)];
  const follows = [
    await alice.agent.follow(bob.did),
    await bob.agent.follow(alice.did),
    await carol.agent.follow(alice.did),
    await carol.agent.follow(bob.did),
  ];
  await alice.agent.app.bsky.graph.block.create({ repo: alice.did }, { subject: carol.did, createdAt: now() });
  const unblock = await bob.agent.app.bsky.graph.block.create({ repo: bob.did }, { subject: carol.did, createdAt: now() });

  // One commit with several ops.
  await bob.agent.com.atproto.repo.applyWrites({
    repo: bob.did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', rkey: '3lbatchaaaaaa', value: { $type: 'app.bsky.feed.post', text: 'batch one', createdAt: now() } },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', rkey: '3lbatchaaaaab', value: { $type: 'app.bsky.feed.post', text: 'batch two', createdAt: now() } },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.like', rkey: '3lbatchaaaaac', value: { $type: 'app.bsky.feed.like', subject: quote, createdAt: now() } },
    ],
  });
  await carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: 'com.example.note', record: { $type: 'com.example.note', body: 'not a bsky record' }, validate: false });

  // Edits and deletes.
  await alice.agent.upsertProfile((p) => ({ ...p, displayName: 'Alice (edited)', description: 'edited bio' }));
  await carol.agent.deletePost(doomed.uri);
  await alice.agent.deleteLike(likes[3]!.uri);
  await carol.agent.deleteLike(likes[1]!.uri);
  await bob.agent.deleteRepost(reposts[0]!.uri);
  await carol.agent.deleteFollow(follows[3]!.uri);
  await bob.agent.app.bsky.graph.block.delete({ repo: bob.did, rkey: unblock.uri.split('/').pop()! });
  return { posts: [root, reply, nested, withImage, external, quote, quoteWithMedia] };
}
