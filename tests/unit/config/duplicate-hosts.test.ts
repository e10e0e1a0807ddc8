// One relay or labeler listed twice (`relay.example,wss://relay.example/`) was accepted: two subscriptions then shared
// one cursor key and two supervised tasks one name, blinding the watchdog and the shutdown report to one of them.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { configProblems } from '../../helpers/config-problems.ts';

const problemsOf = configProblems;

describe('parseConfig: each relay and labeler host once', () => {
  it('refuses a relay named twice, however it is spelled, naming it and both entries', () => {
    expect(problemsOf({ INGESTER_RELAY_HOSTS: 'relay.example,wss://relay.example/' })).toEqual([
      'INGESTER_RELAY_HOSTS names a host more than once (one cursor and one task per host): relay.example (relay.example, wss://relay.example/)',
    ]);
    expect(problemsOf({ INGESTER_RELAY_HOSTS: 'http://127.0.0.1:2583, bsky.network, 127.0.0.1:2583, https://bsky.network, bsky.network' })).toEqual([
      'INGESTER_RELAY_HOSTS names a host more than once (one cursor and one task per host): 127.0.0.1:2583 (http://127.0.0.1:2583, 127.0.0.1:2583); bsky.network (bsky.network, https://bsky.network, bsky.network)',
    ]);
  });

  it('refuses a labeler named twice', () => {
    expect(problemsOf({ INGESTER_LABELER_HOSTS: 'mod.bsky.app,https://mod.bsky.app' })).toEqual([
      'INGESTER_LABELER_HOSTS names a host more than once (one cursor and one task per host): mod.bsky.app (mod.bsky.app, https://mod.bsky.app)',
    ]);
  });

  it('takes distinct hosts, other ports of one address, and one host as both relay and labeler', () => {
    const { config } = parseConfig({
      INGESTER_RELAY_HOSTS: 'relay.example,relay.example:8443,http://127.0.0.1:2583,http://127.0.0.1:2584',
      INGESTER_LABELER_HOSTS: 'relay.example,mod.bsky.app',
    });
    expect(config.relayHosts).toEqual(['relay.example', 'relay.example:8443', 'http://127.0.0.1:2583', 'http://127.0.0.1:2584']);
    expect(config.labelerHosts).toEqual(['relay.example', 'mod.bsky.app']);
  });
});
