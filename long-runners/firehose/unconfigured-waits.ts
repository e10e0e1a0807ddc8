// At the firehose adapter's start: identity waits left in Redis under a relay host that is no longer configured (a
// host removed from INGESTER_RELAY_HOSTS). No subscription reads them again, and their parked frames are events the
// cursor already passed, accepted but not written: they must not sit there unseen. Each such host is logged at error
// with its DIDs and frames, and the DIDs counted in skytide_identity_waits_unconfigured_total; nothing is changed
// (README, "Identity waits of a removed relay", says what to do). A failed look is logged and the adapter goes on.
import type { Redis } from 'ioredis';
import type { Log, Metrics } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import type { KeySpace } from '../../adapters/redis/keys.ts';
import { findUnconfiguredWaits, type UnconfiguredWaits } from '../../adapters/redis/identity-waits.ts';

export async function reportUnconfiguredWaits(o: { redis: Redis; keys: KeySpace; hosts: readonly string[]; log: Log; metrics: Metrics; beat?: () => void }): Promise<UnconfiguredWaits[]> {
  try {
    const found = await findUnconfiguredWaits(o.redis, o.keys, o.hosts, o.beat);
    for (const w of found) {
      o.log.error('identity waits parked under a relay that is no longer configured', {
        host: w.host, dids: w.dids, frames: w.frames, fix: 'add the host back to INGESTER_RELAY_HOSTS until its waits drain, or resync its DIDs (README: Identity waits of a removed relay)',
      });
      o.metrics.inc('skytide_identity_waits_unconfigured_total', {}, w.dids);
    }
    return found;
  } catch (err) {
    o.log.warn('could not look for identity waits of relays no longer configured', { err: describeError(err) });
    return [];
  }
}
