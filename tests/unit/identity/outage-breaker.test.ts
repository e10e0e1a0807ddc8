// The identity outage breaker: while the PLC directory is down, lookups fail fast instead of each waiting out a
// timeout, one probe goes out per interval, and the first success closes it; one DID that keeps failing never opens it.
import { describe, expect, it } from 'vitest';
import { withOutageBreaker } from '../../../adapters/identity/outage-breaker.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../../functions/atproto/identity/did-document.ts';
import { silentLog } from '../../../functions/ports.ts';

const identity = (did: string): AtprotoIdentity => ({ did, pds: 'https://pds.example', signingKey: { curve: 'k256', bytes: new Uint8Array(33) } });

/** A directory that is down while `down` is true, and always fails for the DIDs in `broken`; counts what reached it. */
function directory() {
  const state = { down: false, broken: new Set<string>(), calls: [] as string[] };
  const resolver: IdentityResolver = {
    resolve: async (did) => {
      state.calls.push(did);
      if (state.down || state.broken.has(did)) throw new DependencyError('plc', `PLC unreachable resolving ${did}`, { did });
      if (did.endsWith('nobody')) throw new SkytideError('identity_failed', 'no such DID');
      return identity(did);
    },
  };
  return { state, resolver };
}

describe('outage breaker', () => {
  it('opens after two different DIDs failed, fails fast, lets one probe through per interval, and closes on success', async () => {
    let t = 0;
    const { state, resolver } = directory();
    const breaker = withOutageBreaker(resolver, { log: silentLog, baseMs: 1000, maxMs: 8000, now: () => t, random: () => 0.999 });
    state.down = true;
    await expect(breaker.resolve('did:plc:a')).rejects.toBeInstanceOf(DependencyError);
    expect(breaker.retryAt('plc')).toBeUndefined();
    await expect(breaker.resolve('did:plc:b')).rejects.toBeInstanceOf(DependencyError);
    const probeAt = breaker.retryAt('plc')!;
    expect(probeAt).toBeGreaterThan(t);
    // Open: nothing reaches the directory until the probe time.
    await expect(breaker.resolve('did:plc:c')).rejects.toMatchObject({ dependency: 'plc' });
    expect(state.calls).toEqual(['did:plc:a', 'did:plc:b']);
    // did:web goes through DNS, another dependency: not held up.
    await breaker.resolve('did:web:example.com').catch(() => undefined);
    expect(state.calls).toHaveLength(3);

    t = probeAt;
    await expect(breaker.resolve('did:plc:c')).rejects.toBeInstanceOf(DependencyError);
    await expect(breaker.resolve('did:plc:d')).rejects.toBeInstanceOf(DependencyError);
    expect(state.calls.slice(3)).toEqual(['did:plc:c']); // one probe per interval
    expect(breaker.retryAt('plc')!).toBeGreaterThan(probeAt);

    state.down = false;
    t = breaker.retryAt('plc')!;
    await expect(breaker.resolve('did:plc:d')).resolves.toMatchObject({ did: 'did:plc:d' });
    expect(breaker.retryAt('plc')).toBeUndefined();
    await expect(breaker.resolve('did:plc:e')).resolves.toMatchObject({ did: 'did:plc:e' });
  });

  it('never opens for one DID that keeps failing, so every other DID is still looked up', async () => {
    const { state, resolver } = directory();
    const breaker = withOutageBreaker(resolver, { log: silentLog });
    state.broken.add('did:plc:stuck');
    for (let i = 0; i < 5; i++) {
      await expect(breaker.resolve('did:plc:stuck')).rejects.toBeInstanceOf(DependencyError);
      await expect(breaker.resolve(`did:plc:other${i}`)).resolves.toMatchObject({ did: `did:plc:other${i}` });
    }
    await expect(breaker.resolve('did:plc:stuck')).rejects.toBeInstanceOf(DependencyError);
    await expect(breaker.resolve('did:plc:stuck')).rejects.toBeInstanceOf(DependencyError);
    expect(breaker.retryAt('plc')).toBeUndefined();
    expect(state.calls.filter((d) => d === 'did:plc:stuck')).toHaveLength(7);
  });

  it('closes when a probe meets a verdict: an answer (no such DID) proves the directory is up', async () => {
    let t = 0;
    const { state, resolver } = directory();
    const breaker = withOutageBreaker(resolver, { log: silentLog, baseMs: 1000, maxMs: 8000, now: () => t, random: () => 0.999 });
    state.down = true;
    await expect(breaker.resolve('did:plc:a')).rejects.toBeInstanceOf(DependencyError);
    await expect(breaker.resolve('did:plc:b')).rejects.toBeInstanceOf(DependencyError);
    state.down = false;
    t = breaker.retryAt('plc')!;
    // The probe is a DID the directory does not know: a verdict, passed through, and the breaker closes.
    await expect(breaker.resolve('did:plc:nobody')).rejects.toMatchObject({ reason: 'identity_failed' });
    expect(breaker.retryAt('plc')).toBeUndefined();
    await expect(breaker.resolve('did:plc:c')).resolves.toMatchObject({ did: 'did:plc:c' });
  });

  it('closes the DNS state that did:plc lookups opened (the directory\'s own name failing) once a did:plc lookup succeeds', async () => {
    // Only a did:web lookup closed it, and DIDs waiting on DNS were then let through one per probe interval.
    let nameFails = true;
    const resolver: IdentityResolver = {
      resolve: async (did) => {
        if (nameFails) throw new DependencyError('dns', `the directory's name did not resolve looking up ${did}`, { did });
        return identity(did);
      },
    };
    const breaker = withOutageBreaker(resolver, { log: silentLog, now: () => 0 });
    await expect(breaker.resolve('did:plc:a')).rejects.toMatchObject({ dependency: 'dns' });
    await expect(breaker.resolve('did:plc:b')).rejects.toMatchObject({ dependency: 'dns' });
    expect(breaker.retryAt('dns')).toBeDefined();
    nameFails = false;
    await breaker.resolve('did:plc:c');
    expect(breaker.retryAt('dns')).toBeUndefined();
  });

  it('keeps a DNS state that did:web lookups opened while did:plc lookups succeed (the directory\'s name may be cached)', async () => {
    const resolver: IdentityResolver = {
      resolve: async (did) => {
        if (did.startsWith('did:web:')) throw new DependencyError('dns', `no DNS answer for ${did}`, { did });
        return identity(did);
      },
    };
    const breaker = withOutageBreaker(resolver, { log: silentLog, now: () => 0 });
    await expect(breaker.resolve('did:web:a.example.com')).rejects.toMatchObject({ dependency: 'dns' });
    await expect(breaker.resolve('did:web:b.example.com')).rejects.toMatchObject({ dependency: 'dns' });
    await breaker.resolve('did:plc:c');
    expect(breaker.retryAt('dns')).toBeDefined();
  });

  it('passes verdicts through without counting them as an outage', async () => {
    const { resolver } = directory();
    const breaker = withOutageBreaker(resolver, { log: silentLog });
    for (const d of ['did:plc:nobody', 'did:plc:xnobody']) await expect(breaker.resolve(d)).rejects.toMatchObject({ reason: 'identity_failed' });
    expect(breaker.retryAt('plc')).toBeUndefined();
  });
});
